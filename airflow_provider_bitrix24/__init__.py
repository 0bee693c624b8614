"""The example DAGs of airflow-provider-bitrix24, where Airflow looks for them.

With ``[core] load_examples`` on, Airflow (3.3+) adds an ``example_dags`` folder of every installed
provider as a DAG bundle. For a provider outside ``apache-airflow-providers-*`` it imports the module named
after the distribution (``airflow-provider-bitrix24`` -> ``airflow_provider_bitrix24``) and reads
``example_dags/`` under it; a provider without that module gets an ERROR with a traceback at every
DAG parse. The provider's code lives in :mod:`bitrix24_provider`; in the wheel this package holds the
examples (the repository's ``dags_examples/``, copied in by the build, see ``pyproject.toml``); from a
checkout it has none, which Airflow skips without a word.
"""

from bitrix24_provider import __version__

__all__ = ["__version__"]
