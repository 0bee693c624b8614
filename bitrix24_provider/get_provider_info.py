"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point.

The connection form (:mod:`bitrix24_provider.hooks.connection_form`) is declarative on Airflow >= 3.2:
``ui-field-behaviour`` relabels the standard fields and ``conn-fields`` describes the extra fields
with JSON Schema. Airflow stores the extra fields as plain keys of ``Connection.extra``;
:class:`~bitrix24_provider.hooks.bitrix24.Bitrix24Hook` also reads the Airflow 2 spelling
``extra__bitrix24__<name>``.
"""

from __future__ import annotations

from typing import Any

from bitrix24_provider import __version__
from bitrix24_provider.hooks.connection_form import conn_fields, field_behaviour

INTEGRATION = "Bitrix24"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-bitrix24",
        "name": "Bitrix24",
        "description": "Bitrix24 CRM REST API: batched, throttled exports and writes.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://apidocs.bitrix24.com/",
                "tags": ["software"],
            }
        ],
        "hooks": [{"integration-name": INTEGRATION, "python-modules": ["bitrix24_provider.hooks.bitrix24"]}],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "bitrix24_provider.operators.bitrix24",
                    "bitrix24_provider.operators.get_all",
                    "bitrix24_provider.operators.call",
                ],
            }
        ],
        "sensors": [
            {"integration-name": INTEGRATION, "python-modules": ["bitrix24_provider.sensors.bitrix24"]}
        ],
        "triggers": [
            {"integration-name": INTEGRATION, "python-modules": ["bitrix24_provider.triggers.bitrix24"]}
        ],
        "extra-links": ["bitrix24_provider.operators.links.Bitrix24ListLink"],
        "connection-types": [
            {
                "connection-type": "bitrix24",
                "hook-class-name": "bitrix24_provider.hooks.bitrix24.Bitrix24Hook",
                "hook-name": "Bitrix24",
                "ui-field-behaviour": field_behaviour(),
                "conn-fields": conn_fields(),
            }
        ],
    }
