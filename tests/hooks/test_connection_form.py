"""The connection form: one definition for Airflow 3.2+ (declarative, ``get_provider_info``) and 3.1
(the hook's ``get_ui_field_behaviour``), leading to the layout that keeps secrets in secret fields."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bitrix24_provider.hooks.bitrix24 import Bitrix24Hook
from bitrix24_provider.hooks.connection_form import (
    OAUTH_SECTION,
    TUNING_SECTION,
    conn_fields,
    field_behaviour,
    field_label,
)
from tests.conftest import REPO

LABELS = {"host": "Portal URL", "login": "User ID", "password": "Webhook code"}

#: what the api-server hands the browser for the form (``/ui/connections/hook_meta``), computed in a
#: new process as the api-server does: on Airflow 3.1 it calls the hook's get_ui_field_behaviour
#: (with FAB and wtforms mocked), on 3.2+ it reads get_provider_info()
HOOK_META = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
(meta,) = [m for m in HookMetaService.hook_meta_data() if m.connection_type == "bitrix24"]
print("HOOK_META " + meta.model_dump_json())
"""


class TestExtraFields:
    def test_no_extra_field_is_required(self):
        """The UI marks a field required when its schema type admits no ``null``; no extra is needed
        by both auth types, so none may be marked (the hook names what the chosen type lacks)."""
        required = [name for name, field in conn_fields().items() if "null" not in field["schema"]["type"]]
        assert required == []

    def test_sections_tell_a_webhook_user_what_to_ignore(self):
        sections = {name: field["schema"].get("section") for name, field in conn_fields().items()}
        assert sections == {
            "auth_type": None,  # the UI's own "Extra Fields" section
            "client_id": OAUTH_SECTION,
            "client_secret": OAUTH_SECTION,
            "refresh_token": OAUTH_SECTION,
            "oauth_server": OAUTH_SECTION,
            "plan": TUNING_SECTION,
            "requests_per_second": TUNING_SECTION,
            "request_pool_size": TUNING_SECTION,
            "verify_ssl": TUNING_SECTION,
            "ca_bundle": TUNING_SECTION,
            "shared_throttle_dsn": TUNING_SECTION,
        }
        assert "oauth only" in OAUTH_SECTION and "optional" in TUNING_SECTION


class TestStandardFields:
    def test_labels_and_placeholders_lead_to_secret_fields(self):
        behaviour = field_behaviour()
        assert behaviour["relabeling"] == LABELS
        assert "/rest/" not in behaviour["placeholders"]["host"]  # a portal, not a webhook URL
        assert behaviour["placeholders"]["login"] == "1"
        assert "/rest/1/<code>/" in behaviour["placeholders"]["password"]

    def test_the_airflow_31_form_agrees_with_the_declarative_one(self):
        hook = Bitrix24Hook.get_ui_field_behaviour()
        declarative = field_behaviour()
        assert hook["relabeling"] == declarative["relabeling"]
        assert hook["placeholders"] == declarative["placeholders"]
        # 3.1 has no declarative extra fields: the Extra JSON field stays
        assert set(hook["hidden_fields"]) == set(declarative["hidden-fields"]) - {"extra"}

    @pytest.mark.parametrize(
        ("name", "label"),
        [
            ("host", "Portal URL (host)"),
            ("password", "Webhook code (password)"),
            ("client_secret", "OAuth client secret (client_secret)"),
            ("no_such_field", "no_such_field"),
        ],
        ids=["standard", "secret", "extra", "unknown"],
    )
    def test_messages_name_fields_as_the_form_shows_them(self, name, label):
        assert field_label(name) == label


def test_the_api_server_serves_the_form():
    """On Airflow 3.1 this form exists only through the hook's get_ui_field_behaviour."""
    done = subprocess.run(
        [sys.executable, "-c", HOOK_META], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("HOOK_META ")]
    assert lines, done.stderr[-3000:]
    meta = json.loads(lines[0].removeprefix("HOOK_META "))
    standard = meta["standard_fields"]
    assert {name: standard[name]["title"] for name in LABELS} == LABELS
    assert standard["url_schema"]["hidden"] and standard["port"]["hidden"]
    assert "/rest/" not in standard["host"]["placeholder"]
