"""Airflow sensors of the Bitrix24 provider."""
