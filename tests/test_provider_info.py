"""The provider metadata: valid for Airflow's schemas and seen by the ProvidersManager."""

from __future__ import annotations

import importlib
import importlib.util
import json
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import jsonschema
import pytest

from bitrix24_provider import __version__
from bitrix24_provider.get_provider_info import get_provider_info
from tests.conftest import airflow_at_least

AIRFLOW_DIR = Path(airflow.__file__).parent
PACKAGE = "airflow-provider-bitrix24"
CONN_FIELDS = {
    "auth_type",
    "client_id",
    "client_secret",
    "refresh_token",
    "oauth_server",
    "plan",
    "requests_per_second",
    "request_pool_size",
    "verify_ssl",
    "ca_bundle",
    "shared_throttle_dsn",
}
SENSITIVE = {"client_secret", "refresh_token", "shared_throttle_dsn"}


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def connection_type() -> dict:
    (entry,) = get_provider_info()["connection-types"]
    return entry


class TestProviderInfo:
    def test_validates_against_provider_info_schema(self):
        schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
        jsonschema.validate(get_provider_info(), schema)

    def test_connection_type_validates_against_the_provider_yaml_schema(self):
        """The stricter provider.yaml schema describes ``conn-fields`` and ``ui-field-behaviour``."""
        schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
        item = schema["properties"]["connection-types"]["items"]
        jsonschema.validate(connection_type(), item)
        for name in ("integrations", "hooks", "sensors", "triggers", "operators"):
            jsonschema.validate(get_provider_info()[name], schema["properties"][name])

    def test_entry_point_and_identity(self):
        (entry,) = [
            e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("bitrix24")
        ]
        assert entry.load() is get_provider_info
        info = get_provider_info()
        assert info["package-name"] == PACKAGE
        assert info["versions"] == [__version__]
        assert {i["integration-name"] for i in info["integrations"]} == {"Bitrix24"}

    def test_connection_form(self):
        entry = connection_type()
        assert entry["connection-type"] == "bitrix24"
        assert entry["hook-class-name"] == "bitrix24_provider.hooks.bitrix24.Bitrix24Hook"
        assert entry["hook-name"] == "Bitrix24"
        behaviour = entry["ui-field-behaviour"]
        assert set(behaviour["hidden-fields"]) == {"schema", "port", "extra"}
        labels = {"host": "Portal URL", "login": "User ID", "password": "Webhook code"}
        assert behaviour["relabeling"] == labels
        assert {"host", "login", "password"} <= set(behaviour["placeholders"])
        fields = entry["conn-fields"]
        assert set(fields) == CONN_FIELDS
        assert fields["auth_type"]["schema"] == {
            "type": ["string", "null"],
            "enum": ["webhook", "oauth"],
            "default": "webhook",
        }
        assert fields["plan"]["schema"]["enum"] == ["standard", "enterprise"]
        assert fields["oauth_server"]["schema"]["default"] == "https://oauth.bitrix.info/oauth/token/"
        assert fields["requests_per_second"]["schema"]["type"] == ["number", "null"]
        assert fields["request_pool_size"]["schema"]["type"] == ["number", "null"]
        assert fields["verify_ssl"]["schema"]["type"] == ["boolean", "null"]
        assert fields["verify_ssl"]["schema"]["default"] is True
        assert fields["ca_bundle"]["schema"]["type"] == ["string", "null"]
        assert fields["shared_throttle_dsn"]["schema"]["type"] == ["string", "null"]
        assert {name for name, f in fields.items() if f["schema"].get("format") == "password"} == SENSITIVE

    def test_listed_modules_import(self):
        info = get_provider_info()
        for kind in ("hooks", "sensors", "triggers", "operators"):
            for module in info[kind][0]["python-modules"]:
                if kind == "operators" and not module_exists(module):
                    continue  # being written in parallel; checked once it exists
                importlib.import_module(module)

    def test_extra_link_is_the_operators_link(self):
        from airflow.sdk import BaseOperatorLink

        from bitrix24_provider.operators.bitrix24 import Bitrix24CallOperator, Bitrix24GetAllOperator

        (path,) = get_provider_info()["extra-links"]
        module, name = path.rsplit(".", 1)
        link = getattr(importlib.import_module(module), name)
        assert issubclass(link, BaseOperatorLink)
        for operator in (Bitrix24GetAllOperator, Bitrix24CallOperator):
            assert [type(item) for item in operator.operator_extra_links] == [link]

    def test_hook_class_matches_the_connection_type(self):
        from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook

        entry = connection_type()
        assert Bitrix24Hook.conn_type == entry["connection-type"]
        assert Bitrix24Hook.hook_name == entry["hook-name"]
        # Airflow 3.2+ reads the declarative form; the hook's get_ui_field_behaviour is for 3.1 only
        assert "get_ui_field_behaviour" in Bitrix24Hook.__dict__
        assert "get_connection_form_widgets" not in Bitrix24Hook.__dict__


@pytest.fixture(scope="module")
def providers_manager():
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager()


@airflow_at_least("3.2", "the declarative connection form")
class TestProvidersManager:
    def test_provider_is_discovered(self, providers_manager):
        provider = providers_manager.providers[PACKAGE]
        assert provider.version == __version__
        assert provider.data["connection-types"][0]["connection-type"] == "bitrix24"

    def test_hook_is_registered(self):
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        hook = ProvidersManagerTaskRuntime().hooks["bitrix24"]
        assert hook is not None
        assert hook.hook_class_name == "bitrix24_provider.hooks.bitrix24.Bitrix24Hook"
        assert hook.connection_id_attribute_name == "bitrix24_conn_id"
        assert hook.hook_name == "Bitrix24"
        assert hook.package_name == PACKAGE

    def test_widgets_from_conn_fields(self, providers_manager):
        widgets = {
            name: info
            for name, info in providers_manager.connection_form_widgets.items()
            if name.startswith("extra__bitrix24__")
        }
        assert set(widgets) == {f"extra__bitrix24__{name}" for name in CONN_FIELDS}
        sensitive = {info.field_name for info in widgets.values() if info.is_sensitive}
        assert sensitive == SENSITIVE
        assert all(info.package_name == PACKAGE for info in widgets.values())

    def test_field_behaviours(self, providers_manager):
        behaviour = providers_manager.field_behaviours["bitrix24"]
        assert set(behaviour["hidden_fields"]) == {"schema", "port", "extra"}
        assert behaviour["relabeling"]["password"] == "Webhook code"
        assert "host" in behaviour["placeholders"]

    def test_ui_metadata_names_the_hook(self, providers_manager):
        (meta,) = [
            m
            for m in providers_manager.iter_connection_type_hook_ui_metadata()
            if m.connection_type == "bitrix24"
        ]
        assert meta.hook_name == "Bitrix24"
        assert meta.hook_class_name == "bitrix24_provider.hooks.bitrix24.Bitrix24Hook"

    def test_connection_resolves_to_the_hook(self, monkeypatch):
        from airflow.sdk import BaseHook

        from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook

        monkeypatch.setenv(
            "AIRFLOW_CONN_B24_LOOKUP",
            json.dumps({"conn_type": "bitrix24", "host": "https://acme.bitrix24.com/rest/1/code/"}),
        )
        hook = BaseHook.get_hook("b24_lookup", hook_params={"client_kwargs": {"time_scale": 3}})
        assert isinstance(hook, Bitrix24Hook)
        assert hook.bitrix24_conn_id == "b24_lookup"
        assert hook.client_kwargs == {"time_scale": 3}

    def test_extra_link_is_discovered(self, providers_manager):
        link = "bitrix24_provider.operators.links.Bitrix24ListLink"
        assert link in providers_manager.extra_links_class_names

    def test_trigger_is_registered(self, providers_manager):
        modules = {t.trigger_class_name for t in providers_manager.trigger if t.package_name == PACKAGE}
        assert modules == {"bitrix24_provider.triggers.bitrix24"}
