"""The staging errors: picklable (Airflow carries exceptions across processes), scrubbed, typed for
the retry policy."""

from __future__ import annotations

import pickle

import pytest

from bitrix24_provider.staging.errors import (
    ColumnDropError,
    ColumnPolicyError,
    FieldsAnswerError,
    IntervalNotOverError,
    InvalidIdentifierError,
    StagingConfigError,
    StagingError,
    UnknownFieldError,
    ValueConversionError,
)
from bitrix24_provider.sync.failures import is_permanent

SECRET = "s3cr3twebhookcode"


@pytest.mark.parametrize(
    "error",
    [
        UnknownFieldError("filter key", "NAME", "crm.deal", ["TITLE", "NAME_X"], given=">=NAME"),
        UnknownFieldError("select", "X", "crm.item (entityTypeId 7)"),
        ColumnDropError("public.deals", ["STAGE_ID", "OPPORTUNITY"]),
        FieldsAnswerError("crm.deal.fields", "the answer describes no field"),
        InvalidIdentifierError("target_table", "deals; DROP"),
        ColumnPolicyError("deals", ["B", "A"]),
        ValueConversionError("ID", "integer", "abc"),
        IntervalNotOverError("2026-05-01T12:00:00+00:00", "2026-05-01T11:00:00+00:00", 3600.0),
    ],
    ids=lambda e: type(e).__name__,
)
def test_round_trip_through_pickle(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and copy.args == error.args and vars(copy) == vars(error)


def test_texts_are_scrubbed():
    url = f"https://portal.example/rest/1/{SECRET}/crm.deal.list"
    texts = [
        str(UnknownFieldError("select", url, "crm.deal")),
        str(ColumnDropError(url, ["A"])),
        str(FieldsAnswerError("crm.deal.fields", f"got {url}")),
    ]
    assert all("/rest/1/" in text and SECRET not in text for text in texts)


def test_config_errors_are_permanent_and_answer_errors_are_not():
    assert isinstance(UnknownFieldError("select", "X", "crm.deal"), StagingConfigError)
    assert isinstance(ColumnDropError("t", ["A"]), ValueError)
    assert is_permanent(ColumnDropError("t", ["A"]))
    error = FieldsAnswerError("crm.deal.fields", "no time")
    assert isinstance(error, StagingError) and not is_permanent(error)
