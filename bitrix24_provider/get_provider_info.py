"""Provider metadata read by Airflow through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from bitrix24_provider import __version__


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-bitrix24",
        "name": "Bitrix24",
        "description": "Bitrix24 CRM REST API: batched, throttled exports and writes.",
        "versions": [__version__],
    }
