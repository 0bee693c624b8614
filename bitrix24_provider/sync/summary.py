"""What a load did: :class:`LoadSummary`, returned by :func:`~bitrix24_provider.sync.load.run_load`.

``as_dict()`` is the Airflow operator's XCom value, key for key as before the engine existed; the
described ``columns`` are for orchestrators that show a table's schema (Dagster's column schema).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LoadSummary", "SummaryColumn"]


@dataclass(frozen=True)
class SummaryColumn:
    """A column of the loaded rows as the method's ``.fields`` answer describes it.

    :param name: the row field (``UF_*`` / ``ufCrm*`` included).
    :param type: Bitrix24's field type (``integer``, ``crm_status``, ``datetime``...); for a column
        the answer does not type, the kind it was stored as (``text``, ``json``...).
    :param title: the field's label (a user field's ``formLabel``), else its name.
    """

    name: str
    type: str
    title: str


@dataclass(frozen=True)
class LoadSummary:
    """:param rows: rows the destination received (after removing duplicates).
    :param rows_read: rows read from the portal, over all tries of a resumed export.
    :param pages: pages read, over all tries.
    :param requests: HTTP requests of this try.
    :param max_cursor: the largest cursor value read (incremental loads).
    :param target: the destination's label (``schema.table``, the file path, ``df_callable``).
    :param mode: the write disposition.
    :param resumed: this try continued an earlier try's export.
    :param resumable: the export was checkpointed for resuming.
    :param incremental: the load is incremental (``incremental_from``/``incremental_to`` apply).
    :param incremental_from: the cursor's lower bound (inclusive) this run read from.
    :param incremental_to: its upper bound (exclusive).
    :param watermark: the stored high-water mark (SQL destinations): the largest cursor loaded,
        never later than the export's start on the portal's clock.
    :param columns_added: columns added to the target.
    :param columns_ignored: new columns left out (``column_policy='ignore'``).
    :param already_committed: an earlier try had published this load before it died.
    :param columns: the loaded columns as described by ``.fields``; ``()`` with
        ``column_types='values'``.
    :param deletions: the load's ``deletions`` mode (None: deletions are not reconciled).
    :param reconciled: this run compared the target with the portal's keys (``reconcile_every``
        may skip it; ``deletions_from='events'`` never scans).
    :param rows_marked_deleted: rows ``soft`` flagged as deleted by this run.
    :param rows_restored: flagged rows listed again (unflagged), plus listed records the target
        lacked, read in full.
    :param rows_hard_deleted: rows ``hard`` deleted by this run.
    """

    rows: int
    rows_read: int
    pages: int
    requests: int
    max_cursor: str | None
    target: str
    mode: str
    resumed: bool = False
    resumable: bool = False
    incremental_from: str | None = None
    incremental_to: str | None = None
    watermark: str | None = None
    columns_added: tuple[str, ...] = ()
    columns_ignored: tuple[str, ...] = ()
    already_committed: bool = False
    columns: tuple[SummaryColumn, ...] = ()
    incremental: bool = False
    deletions: str | None = None
    reconciled: bool = False
    rows_marked_deleted: int = 0
    rows_restored: int = 0
    rows_hard_deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The operator's XCom value: ``rows``, ``rows_read``, ``pages``, ``requests``, ``max_cursor``,
        ``target``, ``mode``, ``resumed``, ``resumable``; ``incremental_from``/``incremental_to`` and
        ``watermark`` (when stored) for incremental loads; ``columns_added``/``columns_ignored`` when
        columns changed; ``already_committed`` when true; with ``deletions``: ``deletions``,
        ``reconciled``, ``rows_marked_deleted``, ``rows_restored``, ``rows_hard_deleted``.
        ``columns`` is not in it."""
        summary: dict[str, Any] = {
            "rows": self.rows,
            "rows_read": self.rows_read,
            "pages": self.pages,
            "requests": self.requests,
            "max_cursor": self.max_cursor,
            "target": self.target,
            "mode": self.mode,
            "resumed": self.resumed,
            "resumable": self.resumable,
        }
        if self.incremental:
            summary["incremental_from"] = self.incremental_from
            summary["incremental_to"] = self.incremental_to
            if self.watermark is not None:
                summary["watermark"] = self.watermark
        if self.columns_added:
            summary["columns_added"] = list(self.columns_added)
        if self.columns_ignored:
            summary["columns_ignored"] = list(self.columns_ignored)
        if self.already_committed:
            summary["already_committed"] = True
        if self.deletions is not None:
            summary["deletions"] = self.deletions
            summary["reconciled"] = self.reconciled
            summary["rows_marked_deleted"] = self.rows_marked_deleted
            summary["rows_restored"] = self.rows_restored
            summary["rows_hard_deleted"] = self.rows_hard_deleted
        return summary
