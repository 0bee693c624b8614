"""The orchestrator-neutral sync engine: one load of a Bitrix24 list from start to summary.

An orchestrator's adapter (the Airflow operator, the Dagster assets) builds a :class:`LoadSpec`
(what to load), a destination (:class:`SqlDestination`, :class:`FileDestination`,
:class:`FrameDestination`), a :class:`Portal` (:class:`ClientPortal` over a client) and a
:class:`LoadRun` (who runs it), and calls :func:`run_load`, which returns a :class:`LoadSummary`::

    summary = run_load(spec, ClientPortal(client), SqlDestination(db, table), LoadRun(identity))

The engine imports no orchestrator. Its modules: :mod:`.spec`, :mod:`.destinations`, :mod:`.run`,
:mod:`.portal`, :mod:`.load` (the load), :mod:`.export` (the page loop), :mod:`.incremental`
(cursor bounds), :mod:`.description` and :mod:`.field_names` (the ``.fields`` answer and the names
checked against it), :mod:`.spelling`, :mod:`.resume` (the typed resume point and its stores),
:mod:`.failures` (what another attempt can fix), :mod:`.progress_log`, :mod:`.summary`, and
:mod:`.call_results` (``Bitrix24CallOperator``'s items). The destinations themselves live in
:mod:`bitrix24_provider.staging`, which never imports the client.
"""

from .destinations import Destination, FileDestination, FrameDestination, SqlDestination
from .load import run_load
from .portal import ClientPortal, Portal
from .run import LoadRun, RunIdentity
from .spec import LoadSpec
from .summary import LoadSummary, SummaryColumn

__all__ = [
    "ClientPortal",
    "Destination",
    "FileDestination",
    "FrameDestination",
    "LoadRun",
    "LoadSpec",
    "LoadSummary",
    "Portal",
    "RunIdentity",
    "SqlDestination",
    "SummaryColumn",
    "run_load",
]
