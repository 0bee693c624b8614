"""Airflow operators of the Bitrix24 provider."""
