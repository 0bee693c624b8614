"""Seeded tasks and users."""

from __future__ import annotations

from .seeding import DAY, Gen, Kit, Refs, day_of
from .values import BASE_EPOCH
from .vocab import CITIES, COMPANY_NAMES, FIRST_NAMES, LAST_NAMES, POSTS, PRODUCTS, TASK_VERBS

#: Task statuses: 2 pending, 3 in progress, 4 awaiting control, 5 completed, 6 deferred.
TASK_STATUSES = ((2, 30), (3, 20), (4, 5), (5, 40), (6, 5))


def overdue_status(status: int, deadline: int | None, now: int) -> int:
    """``subStatus``: -1 for open tasks past their deadline, the status otherwise."""
    return -1 if status in (2, 3) and deadline is not None and deadline < now else status


def task_gens(k: Kit, refs: Refs) -> dict[str, Gen]:
    users = refs["user"]
    status = k.pick("STATUS", [s for s, _ in TASK_STATUSES], [w for _, w in TASK_STATUSES])
    verb, who, what = k.pick("T.v", TASK_VERBS), k.pick("T.w", COMPANY_NAMES), k.pick("T.p", PRODUCTS)
    responsible = k.ref("RESPONSIBLE_ID", users)
    days = k.number("DEADLINE", 1, 30)
    deadline = k.maybe("DEADLINE", 60, lambda rid: day_of(k.created(rid)) + days(rid) * DAY + 18 * 3600)
    guid = k.hasher("GUID")
    deal = k.ref("UF_CRM_TASK", refs["deal"], 20)
    auditor = k.ref("AUDITORS", users, 20)

    def sub_status(rid: int) -> int:
        return overdue_status(status(rid), deadline(rid), BASE_EPOCH)

    def closed(rid: int) -> int | None:
        return k.modified(rid) if status(rid) == 5 else None

    def g(rid: int) -> str:
        x = f"{guid(rid) % (1 << 64):016x}{rid:016x}"
        return f"{{{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:32]}}}"

    return {
        "TITLE": lambda rid: f"{verb(rid)} {who(rid)} about {what(rid)}",
        "DESCRIPTION": k.maybe("DESCRIPTION", 50, lambda rid: f"Task #{rid}: details in the CRM card."),
        "PRIORITY": k.pick("PRIORITY", (0, 1, 2), (20, 70, 10)),
        "STATUS": status,
        "SUB_STATUS": sub_status,
        "MULTITASK": k.const(False),
        "NOT_VIEWED": k.chance("NOT_VIEWED", 10),
        "REPLICATE": k.const(False),
        "GROUP_ID": k.pick("GROUP_ID", (0, 0, 0, 1, 3, 5)),
        "STAGE_ID": k.const(0),
        "CREATED_BY": k.ref("CREATED_BY", users),
        "CREATED_DATE": k.created,
        "RESPONSIBLE_ID": responsible,
        "ACCOMPLICES": lambda rid: [],
        "AUDITORS": lambda rid: [] if (u := auditor(rid)) is None else [u],
        "CHANGED_BY": k.ref("CHANGED_BY", users),
        "CHANGED_DATE": k.modified,
        "STATUS_CHANGED_BY": responsible,
        "STATUS_CHANGED_DATE": k.modified,
        "CLOSED_BY": lambda rid: responsible(rid) if status(rid) == 5 else None,
        "CLOSED_DATE": closed,
        "ACTIVITY_DATE": k.modified,
        "DEADLINE": deadline,
        "GUID": g,
        "COMMENTS_COUNT": k.maybe("COMMENTS_COUNT", 40, k.number("COMMENTS_COUNT", 1, 12)),
        "ALLOW_CHANGE_DEADLINE": k.chance("ALLOW_CHANGE_DEADLINE", 50),
        "ALLOW_TIME_TRACKING": k.const(False),
        "TASK_CONTROL": k.chance("TASK_CONTROL", 10),
        "ADD_IN_REPORT": k.const(False),
        "TIME_ESTIMATE": k.const(0),
        "MATCH_WORK_TIME": k.const(False),
        "SITE_ID": k.const("s1"),
        "SUBORDINATE": k.const(False),
        "FAVORITE": k.const(False),
        "DURATION_TYPE": k.const("days"),
        "IS_MUTED": k.const(False),
        "IS_PINNED": k.const(False),
        "UF_CRM_TASK": lambda rid: [] if (d := deal(rid)) is None else [f"D_{d}"],
    }


def user_gens(k: Kit, refs: Refs) -> dict[str, Gen]:
    first, last = k.pick("NAME", FIRST_NAMES[:20]), k.pick("LAST_NAME", LAST_NAMES[:20])
    active = k.chance("ACTIVE", 92)
    gender = k.pick("PERSONAL_GENDER", ("M", "F", ""))
    department = k.pick("UF_DEPARTMENT", (1, 1, 3, 5, 7))
    login = k.hasher("LAST_LOGIN")
    return {
        "XML_ID": k.const(None),
        "ACTIVE": lambda rid: rid == k.first or active(rid),
        "NAME": lambda rid: "Admin" if rid == k.first else first(rid),
        "LAST_NAME": last,
        "EMAIL": lambda rid: f"{first(rid).lower()}.{last(rid).lower()}{rid}@example.com",
        "LAST_LOGIN": lambda rid: k.modified(rid) + login(rid) % DAY,
        "DATE_REGISTER": lambda rid: day_of(k.created(rid)),
        "TIME_ZONE": k.const(""),
        "IS_ONLINE": k.chance("IS_ONLINE", 15),
        "TIME_ZONE_OFFSET": k.const(0),
        "TIMESTAMP_X": k.modified,
        "LAST_ACTIVITY_DATE": lambda rid: k.modified(rid) + login(rid) % DAY,
        "PERSONAL_GENDER": gender,
        "PERSONAL_BIRTHDAY": k.maybe(
            "PERSONAL_BIRTHDAY", 40, lambda rid: day_of(k.created(rid) - 30 * 365 * DAY)
        ),
        "PERSONAL_CITY": k.maybe("PERSONAL_CITY", 50, k.pick("PERSONAL_CITY", CITIES)),
        "WORK_POSITION": k.maybe("WORK_POSITION", 80, k.pick("WORK_POSITION", POSTS)),
        "UF_DEPARTMENT": lambda rid: [1] if rid == k.first else [department(rid)],
        "UF_EMPLOYMENT_DATE": lambda rid: day_of(k.created(rid)),
        "USER_TYPE": k.const("employee"),
    }
