"""What a list method's ``.fields`` answer says: the row fields and their kinds, the names the portal
takes in ``select``/``filter``/``order``, and when it answered.

A load describes its method with one ``.fields`` call, which must succeed (``column_types="fields"``);
typing columns from their values without it is an explicit opt-in (``column_types="values"``). Names
per family (contract §3.4-§3.6):

* classic CRM and other ``*.list`` methods, ``user.get``: the answer's UPPER codes (``UF_CRM_*``
  included), also matched in other cases like the portal does; ``select`` masks ``*`` and ``UF_*``;
* ``crm.item.list``: the answer's camelCase keys (``updatedTime``, ``ufCrm5_...``) and their
  ``upperName`` (``UPDATED_TIME``, ``UF_CRM_5_...``), matched exactly; rows carry the camelCase name
  (the ``UF_CRM_*`` name of user fields with ``useOriginalUfNames=Y``); ``select`` mask ``*``;
* ``tasks.task.list``: the answer's UPPER codes (in any case) and the camelCase names the rows carry
  (``CHANGED_DATE``/``changedDate``); ``select`` mask ``*``; ``filter`` also takes the documented
  filter-only keys (``REAL_STATUS``, ``MEMBER``...).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..client.errors import BitrixError
from ..client.families import ITEM, TASK, family_of
from ..client.sync_client import Bitrix
from ..staging.columns import Column, Kind, kind_of_type
from ..staging.errors import FieldsAnswerError, StagingConfigError
from .spelling import fields_call, response_name

log = logging.getLogger(__name__)

ColumnTypes = Literal["fields", "values"]
COLUMN_TYPES: tuple[str, ...] = ("fields", "values")

#: tasks.task.list filter keys beyond tasks.task.getfields (the method's documented filter)
_TASK_FILTER_ONLY = frozenset(
    {
        "REAL_STATUS",
        "MEMBER",
        "TAG",
        "ACCOMPLICE",
        "AUDITOR",
        "DEPENDS_ON",
        "ONLY_ROOT_TASKS",
        "STATUS_EXPIRED",
    }
)
#: keys tasks.task.list rows carry whatever the select (``group``, ``subStatus``; contract §3.5)
_TASK_ALWAYS = ("group", "subStatus")


@dataclass(frozen=True)
class FieldsDescription:
    """One ``.fields`` answer, read for list *method*.

    :param subject: what was described, for messages: ``crm.deal``, ``crm.item (entityTypeId 1032)``.
    :param names: the answer's field names in its order (the family's main spelling).
    :param rows: every name the portal takes in ``select``/``filter``/``order`` → the row field it
        returns (``CHANGED_DATE`` → ``changedDate``).
    :param kinds: row field → kind; fields described without a type (``user.fields``) are left out
        and typed from their values.
    :param types: row field → Bitrix24's field type as described (``crm_status``, ``datetime``...).
    :param titles: row field → its label: a user field's ``formLabel`` (else ``listLabel``), else
        the field's ``title`` (``user.fields``: the value).
    :param masks: the family's ``select`` wildcards.
    :param filter_only: filter keys the method takes beyond its fields.
    :param fold_case: names also match in upper case (all families but ``crm.item``).
    :param answered_at: the portal's clock when it started answering the ``.fields`` call: the
        answer's ``time.date_start``, whole seconds (floored) with the portal's UTC offset. Every list
        request of the load is sent after it, so it is a safe start of the export: a watermark must
        never pass it.
    """

    method: str
    subject: str
    names: tuple[str, ...]
    rows: Mapping[str, str]
    kinds: Mapping[str, Kind]
    masks: frozenset[str]
    filter_only: frozenset[str]
    fold_case: bool
    answered_at: datetime
    types: Mapping[str, str] = field(default_factory=dict)
    titles: Mapping[str, str] = field(default_factory=dict)

    def row_name(self, name: str) -> str | None:
        """The row field that request name *name* returns; None when it is not a field."""
        found = self.rows.get(name)
        if found is None and self.fold_case:
            found = self.rows.get(name.upper())
        return found

    def is_mask(self, name: str) -> bool:
        return name in self.masks or (self.fold_case and name.upper() in self.masks)

    def is_filter_only(self, name: str) -> bool:
        return (name.upper() if self.fold_case else name) in self.filter_only


def required_fields_call(method: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(fields method, its parameters)`` of list *method*; a :class:`StagingConfigError` naming the
    method and ``column_types`` when none is known."""
    call = fields_call(method, params)
    if call is None:
        raise StagingConfigError(
            f"column_types='fields' needs the .fields method of {method} and none is known; pass "
            "column_types='values' to type the columns from their values (field names are then not checked)"
        )
    fields_method, fields_params = call
    return fields_method, {k: v for k, v in fields_params.items() if v is not None}


def describe(client: Bitrix, method: str, params: Mapping[str, Any]) -> FieldsDescription:
    """Call the ``.fields`` method of *method* once (``request()``, for its ``time`` block).

    A failure after the client's own retries is logged once and raised as the client's typed error:
    the load stops before any list request and before the target database is touched.
    """
    fields_method, fields_params = required_fields_call(method, params)
    try:
        answer = client.request(fields_method, fields_params)
    except BitrixError as error:
        log.error("Cannot describe the fields of %s: %s failed (%s)", method, fields_method, error)
        raise
    return read_answer(method, params, fields_method, answer)


def read_answer(method: str, params: Mapping[str, Any], fields_method: str, answer: Any) -> FieldsDescription:
    """A :class:`FieldsDescription` from the whole answer of *fields_method* (``result`` and ``time``)."""
    result = answer.get("result") if isinstance(answer, Mapping) else None
    fields = result.get("fields") if isinstance(result, Mapping) else None
    if not isinstance(fields, Mapping):  # classic CRM and user.fields: the fields are the result
        fields = result
    if not isinstance(fields, Mapping) or not fields:
        raise FieldsAnswerError(fields_method, "the answer describes no field")
    family = family_of(method)
    original_uf = family is ITEM and _yes(_param(params, "useOriginalUfNames"))
    rows: dict[str, str] = {}
    kinds: dict[str, Kind] = {}
    types: dict[str, str] = {}
    titles: dict[str, str] = {}
    for key, spec in fields.items():
        name = str(key)
        row = response_name(family, name)
        upper = spec.get("upperName") if isinstance(spec, Mapping) and family is ITEM else None
        if isinstance(upper, str) and upper:
            row = upper if original_uf and upper.startswith("UF_") else name
            rows[upper] = row
        rows[name] = rows[row] = row
        if isinstance(spec, Mapping):  # user.fields: {NAME: "title"} carries no types
            multiple = bool(spec.get("isMultiple")) or str(spec.get("type", "")).lower() == "crm_multifield"
            kinds[row] = kind_of_type(spec.get("type"), multiple)
            if spec.get("type"):
                types[row] = str(spec["type"])
        titles[row] = _title(spec, name)
    subject = fields_method.rsplit(".", 1)[0]
    if family is ITEM:
        subject += f" (entityTypeId {_param(params, 'entityTypeId')})"
    return FieldsDescription(
        method=method,
        subject=subject,
        names=tuple(str(k) for k in fields),
        rows=rows,
        kinds=kinds,
        masks=frozenset({"*"} if family in (ITEM, TASK) else {"*", "UF_*"}),
        filter_only=_TASK_FILTER_ONLY if family is TASK else frozenset(),
        fold_case=family is not ITEM,
        answered_at=_answered_at(fields_method, answer),
        types=types,
        titles=titles,
    )


def _title(spec: Any, name: str) -> str:
    if isinstance(spec, str) and spec:
        return spec
    if isinstance(spec, Mapping):
        for key in ("formLabel", "listLabel", "title"):
            label = spec.get(key)
            if isinstance(label, str) and label:
                return label
    return name


def _answered_at(fields_method: str, answer: Mapping[str, Any]) -> datetime:
    block = answer.get("time")
    text = block.get("date_start") if isinstance(block, Mapping) else None
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise FieldsAnswerError(
            fields_method, f"the answer has no time.date_start with an offset (got {text!r})"
        )
    return moment


def _param(params: Mapping[str, Any], name: str) -> Any:
    """An engine method's parameter, named in any case (like the portal reads it)."""
    for key, value in params.items():
        if str(key).lower() == name.lower():
            return value
    return None


def _yes(value: Any) -> bool:
    return str(value).strip().upper() in ("Y", "1", "TRUE")


def _row(description: FieldsDescription | None, method: str, name: str) -> str:
    found = description.row_name(name) if description is not None else None
    return found or response_name(family_of(method), name)


def selected_rows(
    description: FieldsDescription | None, select: Iterable[str] | None, method: str
) -> list[str] | None:
    """The row fields an explicit *select* returns (with what the family always returns); None when
    the select is a wildcard or absent: the columns are known only from the rows."""
    names = [str(s) for s in select or ()]
    if not names or any("*" in n for n in names):
        return None
    found = [_row(description, method, n) for n in names]
    if family_of(method) is TASK:
        found += [n for n in _TASK_ALWAYS if n not in found]
    return list(dict.fromkeys(found))


def described_columns(
    description: FieldsDescription | None, select: Iterable[str] | None, method: str
) -> list[Column]:
    """Columns for an empty export: the selected fields (every described one for ``*``/no select)."""
    kinds = description.kinds if description is not None else {}
    names = [str(s) for s in select or ()]
    if not names or any("*" in n for n in names):
        return [Column(n, k) for n, k in kinds.items()]
    rows = dict.fromkeys(_row(description, method, n) for n in names)
    return [Column(n, kinds.get(n, "text")) for n in rows]
