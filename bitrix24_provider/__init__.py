"""Apache Airflow provider and async batching client for the Bitrix24 REST API."""

__version__ = "0.1.0"
