"""Seeded tasks, users and the other paged lists: departments, list elements, disk storages and the
shared folder's files, catalog products."""

from __future__ import annotations

from bisect import bisect_left

from .seeding import DAY, Gen, Kit, Refs, day_of
from .values import BASE_EPOCH
from .vocab import (
    CITIES,
    COMPANY_NAMES,
    DEPARTMENTS,
    FILE_NAMES,
    FIRST_NAMES,
    LAST_NAMES,
    POSTS,
    PRODUCTS,
    TASK_VERBS,
)

#: The folder whose children ``disk.folder.getchildren`` lists: the shared documents' root.
SHARED_FOLDER_ID = 1
#: The universal list ``lists.element.get`` reads (``IBLOCK_TYPE_ID`` ``lists``).
LIST_IBLOCK_ID = 47
LIST_IBLOCK_CODE = "contracts"
#: The product catalog ``catalog.product.list`` reads (``filter[iblockId]``).
CATALOG_IBLOCK_ID = 23

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


def department_gens(k: Kit, refs: Refs) -> dict[str, Gen]:
    """A tree under the first department (the company): most hang from it, some from another one."""
    ids, name = refs["department"], k.pick("NAME", DEPARTMENTS)
    spread = k.hasher("PARENT")

    def parent(rid: int) -> int | None:
        below = bisect_left(ids, rid)
        if rid == k.first or below == 0:
            return None
        r = spread(rid)
        return k.first if r % 10 < 7 else ids[r % below]

    return {
        "NAME": lambda rid: "Company" if rid == k.first else f"{name(rid)} {rid}",
        "SORT": k.pick("SORT", (100, 500, 500, 500)),
        "PARENT": parent,
        "UF_HEAD": k.ref("UF_HEAD", refs["user"], 70),
    }


def list_element_gens(k: Kit, refs: Refs) -> dict[str, Gen]:
    users = refs["user"]
    return {
        "IBLOCK_ID": k.const(LIST_IBLOCK_ID),
        "NAME": lambda rid: f"Contract {rid}",
        "CODE": k.maybe("CODE", 30, lambda rid: f"contract-{rid}"),
        "SORT": k.const(500),
        "CREATED_BY": k.ref("CREATED_BY", users),
        "MODIFIED_BY": k.ref("MODIFIED_BY", users),
        "DATE_CREATE": k.created,
        "TIMESTAMP_X": k.modified,
        "PROPERTY_101": lambda rid: f"C-{rid:06d}",
        "PROPERTY_103": k.maybe("PROPERTY_103", 80, k.money("PROPERTY_103", 1_000, 900_000)),
    }


def storage_gens(k: Kit, refs: Refs) -> dict[str, Gen]:
    """The first storage holds the shared documents; the others belong to users."""
    owner = k.ref("ENTITY_ID", refs["user"])

    def shared(rid: int) -> bool:
        return rid == k.first

    return {
        "NAME": lambda rid: "Shared documents" if shared(rid) else f"User {owner(rid)} drive {rid}",
        "CODE": lambda rid: "SHARED_FILES" if shared(rid) else None,
        "MODULE_ID": k.const("disk"),
        "ENTITY_TYPE": lambda rid: "common" if shared(rid) else "user",
        "ENTITY_ID": lambda rid: "shared_files_s1" if shared(rid) else str(owner(rid)),
        "ROOT_OBJECT_ID": lambda rid: SHARED_FOLDER_ID if shared(rid) else 1_000_000 + rid,
    }


def disk_object_gens(k: Kit, refs: Refs) -> dict[str, Gen]:
    """Files (80 %) and folders in the shared documents' root folder."""
    users, storages = refs["user"], refs["storage"]
    folder = k.chance("TYPE", 20)
    word, size = k.pick("NAME", FILE_NAMES), k.number("SIZE", 1_000, 5_000_000)
    version = k.number("GLOBAL_CONTENT_VERSION", 1, 5)

    def file_only(gen: Gen) -> Gen:
        return lambda rid: None if folder(rid) else gen(rid)

    return {
        "NAME": lambda rid: f"{word(rid)} {rid}" if folder(rid) else f"{word(rid)} {rid}.pdf",
        "STORAGE_ID": k.const(storages[0] if storages else None),
        "TYPE": lambda rid: "folder" if folder(rid) else "file",
        "PARENT_ID": k.const(SHARED_FOLDER_ID),
        "DELETED_TYPE": k.const(0),
        "GLOBAL_CONTENT_VERSION": file_only(version),
        "FILE_ID": file_only(lambda rid: 10_000 + rid),
        "SIZE": file_only(size),
        "CREATE_TIME": k.created,
        "UPDATE_TIME": k.modified,
        "CREATED_BY": k.ref("CREATED_BY", users),
        "UPDATED_BY": k.ref("UPDATED_BY", users),
        "DELETED_BY": k.const(0),
    }


def product_gens(k: Kit, refs: Refs) -> dict[str, Gen]:
    users, what = refs["user"], k.pick("NAME", PRODUCTS)
    return {
        "IBLOCK_ID": k.const(CATALOG_IBLOCK_ID),
        "NAME": lambda rid: f"{what(rid)} #{rid}",
        "CODE": lambda rid: f"product-{rid}",
        "XML_ID": str,
        "ACTIVE": k.chance("ACTIVE", 90),
        "AVAILABLE": k.chance("AVAILABLE", 80),
        "IBLOCK_SECTION_ID": k.pick("IBLOCK_SECTION_ID", (None, 47, 49)),
        "SORT": k.const(100),
        "TYPE": k.const(1),
        "MEASURE": k.const(5),
        "QUANTITY": k.combine(float, k.number("QUANTITY", 0, 500)),
        "PURCHASING_PRICE": k.money("PURCHASING_PRICE", 100, 90_000),
        "PURCHASING_CURRENCY": k.const("RUB"),
        "VAT_INCLUDED": k.chance("VAT_INCLUDED", 70),
        "CREATED_BY": k.ref("CREATED_BY", users),
        "MODIFIED_BY": k.ref("MODIFIED_BY", users),
        "DATE_CREATE": k.created,
        "TIMESTAMP_X": k.modified,
    }
