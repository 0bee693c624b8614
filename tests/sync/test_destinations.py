"""Destinations are checked when built: a typed error names what is wrong."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bitrix24_provider.staging.database import Database
from bitrix24_provider.staging.errors import StagingConfigError
from bitrix24_provider.staging.identifiers import TableName
from bitrix24_provider.sync import FileDestination, FrameDestination, SqlDestination


def test_labels_name_the_target(tmp_path):
    db = Database(sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        assert SqlDestination(db, TableName.checked("deals", "crm")).label == "crm.deals"
    finally:
        db.dispose()
    assert FileDestination("out/deals.csv.gz").label == "out/deals.csv.gz"
    assert FrameDestination(print).label == "df_callable"


def test_bad_destinations_are_typed_errors(tmp_path):
    with pytest.raises(StagingConfigError, match="output_path must end with one of"):
        FileDestination("deals.xlsx")
    with pytest.raises(StagingConfigError, match="df_callable must be callable"):
        FrameDestination("print")  # type: ignore[arg-type]
    with pytest.raises(StagingConfigError, match="database must be a Database"):
        SqlDestination("sqlite://", TableName.checked("deals"))  # type: ignore[arg-type]
    db = Database(sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        with pytest.raises(StagingConfigError, match="table must be a TableName"):
            SqlDestination(db, "deals")  # type: ignore[arg-type]
    finally:
        db.dispose()
