"""What the portal does on writes: defaults of new rows and fields derived from changed ones."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .generators_other import overdue_status
from .seeding import DAY, day_of
from .vocab import deal_semantic, lead_semantic

Getter = Callable[[str], Any]
_HAS = {"PHONE": "HAS_PHONE", "EMAIL": "HAS_EMAIL"}
_MF_BASE = {"lead": 1, "contact": 2, "company": 3}


def defaults(entity: str, rid: int, now: int, user: int) -> dict[str, Any]:
    """Values a freshly added row gets before the caller's fields are applied."""
    crm = {
        "OPENED": True,
        "ASSIGNED_BY_ID": user,
        "CURRENCY_ID": "RUB",
        "HAS_PHONE": False,
        "HAS_EMAIL": False,
    }
    crm |= {"HAS_IMOL": False, "LAST_ACTIVITY_TIME": now, "LAST_ACTIVITY_BY": user}
    money = {"OPPORTUNITY": 0.0, "IS_MANUAL_OPPORTUNITY": False, "TAX_VALUE": 0.0}
    if entity == "deal":
        return crm | money | {
            "TITLE": f"Deal #{rid}", "TYPE_ID": "SALE", "CATEGORY_ID": 0, "STAGE_ID": "NEW",
            "IS_RECURRING": False, "IS_RETURN_CUSTOMER": False, "IS_REPEATED_APPROACH": False,
            "BEGINDATE": day_of(now), "CLOSEDATE": day_of(now) + 7 * DAY,
            "MOVED_TIME": now, "MOVED_BY_ID": user,
        }  # fmt: skip
    if entity == "lead":
        return crm | money | {
            "TITLE": f"Lead #{rid}", "STATUS_ID": "NEW", "IS_RETURN_CUSTOMER": False,
            "MOVED_TIME": now, "MOVED_BY_ID": user,
        }  # fmt: skip
    if entity == "contact":
        return crm | {"TYPE_ID": "CLIENT", "EXPORT": True, "NAME": "Contact", "LAST_NAME": f"#{rid}"}
    if entity == "company":
        return crm | {"TITLE": f"Company #{rid}", "COMPANY_TYPE": "CUSTOMER", "IS_MY_COMPANY": False}
    if entity == "item":
        return money | {
            "TITLE": f"Order #{rid}", "XML_ID": "", "CATEGORY_ID": 12, "STAGE_ID": "DT1032_12:NEW",
            "OPENED": True,
            "CURRENCY_ID": "RUB", "ASSIGNED_BY_ID": user, "MOVED_TIME": now, "MOVED_BY": user,
            "BEGINDATE": day_of(now), "CLOSEDATE": day_of(now) + 7 * DAY,
            "LAST_ACTIVITY_TIME": now, "LAST_ACTIVITY_BY": user,
        }  # fmt: skip
    if entity == "task":
        flags: tuple[str, ...] = (
            "MULTITASK",
            "NOT_VIEWED",
            "REPLICATE",
            "ALLOW_CHANGE_DEADLINE",
            "ALLOW_TIME_TRACKING",
        )
        flags += (
            "TASK_CONTROL",
            "ADD_IN_REPORT",
            "MATCH_WORK_TIME",
            "SUBORDINATE",
            "FAVORITE",
            "IS_MUTED",
            "IS_PINNED",
        )
        return dict.fromkeys(flags, False) | {
            "TITLE": f"Task #{rid}", "STATUS": 2, "PRIORITY": 1, "GROUP_ID": 0, "STAGE_ID": 0,
            "RESPONSIBLE_ID": user, "STATUS_CHANGED_BY": user, "STATUS_CHANGED_DATE": now,
            "ACTIVITY_DATE": now,
            "GUID": f"{{{rid:08x}-0000-4000-8000-{now:012x}}}", "SITE_ID": "s1", "DURATION_TYPE": "days",
            "TIME_ESTIMATE": 0, "COMMENTS_COUNT": None,
        }  # fmt: skip
    return {}


def _multifield_ids(entity: str, rid: int, changes: dict[str, Any]) -> None:
    base = _MF_BASE.get(entity, 9) * 10_000_000_000 + rid * 4
    for code in ("PHONE", "EMAIL", "WEB", "IM"):
        for n, entry in enumerate(changes.get(code) or ()):
            if isinstance(entry, dict) and entry.get("ID") is None:
                entry["ID"] = base + n + (2 if code in ("WEB", "IM") else 0) * 1000
        if code in _HAS and code in changes:
            changes[_HAS[code]] = bool(changes[code])


def _link_list(changes: dict[str, Any], single: str, many: str) -> dict[str, Any]:
    """Keep ``CONTACT_ID`` and ``CONTACT_IDS`` (or the company pair) in agreement."""
    if changes.get(many):
        return {single: changes[many][0]}
    if changes.get(single) is not None:
        return {many: [changes[single]]}
    if many in changes:
        return {single: None}
    if single in changes:
        return {many: []}
    return {}


def derive(
    entity: str, old: Getter, changes: dict[str, Any], now: int, user: int, rid: int
) -> dict[str, Any]:
    """Fields the portal recomputes when ``changes`` are written (changes may be completed in place)."""
    extra: dict[str, Any] = {}
    if entity in ("lead", "contact", "company"):
        _multifield_ids(entity, rid, changes)
    if entity == "deal":
        extra |= _link_list(changes, "CONTACT_ID", "CONTACT_IDS")
        if "STAGE_ID" in changes or "CATEGORY_ID" in changes:
            category = changes.get("CATEGORY_ID", old("CATEGORY_ID")) or 0
            stage = changes.get("STAGE_ID") or ("NEW" if category == 0 else f"C{category}:NEW")
            extra |= {"STAGE_ID": stage, "STAGE_SEMANTIC_ID": deal_semantic(stage)}
            extra |= {"CLOSED": deal_semantic(stage) != "P", "IS_NEW": stage.endswith("NEW")}
            if stage != old("STAGE_ID"):
                extra |= {"MOVED_TIME": now, "MOVED_BY_ID": user}
    elif entity == "lead" and "STATUS_ID" in changes:
        status = changes["STATUS_ID"] or "NEW"
        semantic = lead_semantic(status)
        extra |= {"STATUS_SEMANTIC_ID": semantic, "DATE_CLOSED": None if semantic == "P" else now}
        if status != old("STATUS_ID"):
            extra |= {"MOVED_TIME": now, "MOVED_BY_ID": user}
    elif entity == "contact":
        extra |= _link_list(changes, "COMPANY_ID", "COMPANY_IDS")
    elif entity == "item":
        extra |= _link_list(changes, "CONTACT_ID", "CONTACT_IDS")
        if "STAGE_ID" in changes and changes["STAGE_ID"] != old("STAGE_ID"):
            extra |= {"PREVIOUS_STAGE_ID": old("STAGE_ID"), "MOVED_TIME": now, "MOVED_BY": user}
    elif entity == "task" and ("STATUS" in changes or "DEADLINE" in changes):
        status = changes.get("STATUS", old("STATUS")) or 2
        extra["SUB_STATUS"] = overdue_status(status, changes.get("DEADLINE", old("DEADLINE")), now)
        if "STATUS" in changes:
            extra |= {"STATUS_CHANGED_DATE": now, "STATUS_CHANGED_BY": user}
            extra |= (
                {"CLOSED_DATE": now, "CLOSED_BY": user}
                if status == 5
                else {"CLOSED_DATE": None, "CLOSED_BY": None}
            )
    return extra
