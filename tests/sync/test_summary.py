"""LoadSummary.as_dict(): the operator's XCom value, key for key as before the engine."""

from __future__ import annotations

from bitrix24_provider.sync import LoadSummary, SummaryColumn

BASE = {
    "rows": 10,
    "rows_read": 12,
    "pages": 1,
    "requests": 3,
    "max_cursor": None,
    "target": "deals",
    "mode": "replace",
    "resumed": False,
    "resumable": True,
}


def summary(**changes: object) -> LoadSummary:
    return LoadSummary(**{**BASE, **changes})  # type: ignore[arg-type]


def test_a_full_load_has_the_nine_keys_and_no_columns():
    loaded = summary(columns=(SummaryColumn("ID", "integer", "ID"),))
    assert loaded.as_dict() == BASE
    assert list(loaded.as_dict()) == list(BASE)


def test_an_incremental_load_adds_its_bounds_even_when_open():
    loaded = summary(
        incremental=True, incremental_from=None, incremental_to=None, watermark="2026-01-01T00:00:00+03:00"
    )
    assert loaded.as_dict() == {
        **BASE,
        "incremental_from": None,
        "incremental_to": None,
        "watermark": "2026-01-01T00:00:00+03:00",
    }
    assert "watermark" not in summary(incremental=True).as_dict()  # files and frames store none


def test_changed_columns_and_an_earlier_commit_are_reported_when_they_happened():
    loaded = summary(columns_added=("UF_NEW",), columns_ignored=("UF_OLD",), already_committed=True)
    assert loaded.as_dict() == {
        **BASE,
        "columns_added": ["UF_NEW"],
        "columns_ignored": ["UF_OLD"],
        "already_committed": True,
    }
    assert "already_committed" not in summary().as_dict()
