"""A package named ``fast_bitrix24`` that is airflow-provider-bitrix24's client: what fast_bitrix24's own
tests import, mapped onto our equivalents, for ``tests/compat/test_fast_bitrix24_suite.py`` only.

It stands first on ``PYTHONPATH`` in the suite's subprocess, so the pinned tests run our ``Bitrix`` /
``BitrixAsync`` unchanged. Clients given a webhook that is not on 127.0.0.1 (the suite's dummy
``https://google.com/path``) talk to the replay portal (:mod:`fb24_replay`) instead, where the test's
``srh`` answers.
"""

from .bitrix import Bitrix, BitrixAsync

__all__ = ["Bitrix", "BitrixAsync"]
