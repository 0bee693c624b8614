"""Airflow hooks of the Bitrix24 provider."""
