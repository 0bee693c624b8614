"""Airflow triggers of the Bitrix24 provider."""
