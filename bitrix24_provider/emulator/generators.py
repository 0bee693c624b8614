"""What the seeded rows of each entity look like: value generators, defaults for added rows and
fields derived on writes (stage semantics, ``HAS_PHONE``, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .fields import SCHEMAS, Field
from .generators_other import (
    department_gens,
    disk_object_gens,
    list_element_gens,
    product_gens,
    storage_gens,
    task_gens,
    user_gens,
)
from .seeding import DAY, Gen, Kit, Refs, day_of
from .vocab import (
    CITIES,
    COMMENTS,
    COMPANY_NAMES,
    COMPANY_SUFFIXES,
    CURRENCIES,
    DEAL_STAGES,
    FIRST_NAMES,
    ITEM_STAGES,
    LAST_NAMES,
    LEAD_STATUSES,
    POSTS,
    PRODUCTS,
    REGIONS,
    SOURCES,
    TAGS,
    deal_semantic,
    lead_semantic,
)

#: (created, modified, created_by, modified_by) codes per entity.
AUDIT: dict[str, tuple[str, str, str | None, str | None]] = {
    **dict.fromkeys(
        ("deal", "lead", "contact", "company"),
        ("DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID"),
    ),
    "item": ("CREATED_TIME", "UPDATED_TIME", "CREATED_BY", "UPDATED_BY"),
    "task": ("CREATED_DATE", "CHANGED_DATE", "CREATED_BY", "CHANGED_BY"),
    "user": ("DATE_REGISTER", "TIMESTAMP_X", None, None),
    "list_element": ("DATE_CREATE", "TIMESTAMP_X", "CREATED_BY", "MODIFIED_BY"),
    "disk_object": ("CREATE_TIME", "UPDATE_TIME", "CREATED_BY", "UPDATED_BY"),
    "product": ("DATE_CREATE", "TIMESTAMP_X", "CREATED_BY", "MODIFIED_BY"),
}
_MULTI_TYPES = ("PHONE", "EMAIL", "WEB", "IM")
#: entities whose ``UF_CRM_*`` user fields are generated alike
_CRM = frozenset({"deal", "lead", "contact", "company", "item"})
_ENTITY_INDEX = {"lead": 1, "contact": 2, "company": 3}


def _uf_gen(k: Kit, f: Field) -> Gen:
    if f.multiple:
        count, first, second = (
            k.number(f.code + "#", 0, 3),
            k.pick(f.code + "1", TAGS),
            k.pick(f.code + "2", TAGS),
        )
        return k.combine(lambda rid, a, b, n: [a, b, f"#{rid % 97}"][:n], k.ident(), first, second, count)
    if f.type == "double":
        cents = k.number(f.code, 100, 999_999)
        return k.maybe(f.code, 60, k.combine(lambda c: c / 100, cents))
    if f.type == "datetime":
        days = k.number(f.code, 1, 120)
        return k.maybe(f.code, 50, k.combine(lambda c, d: c + d * DAY, k.created, days))
    if f.type == "enumeration":
        return k.maybe(f.code, 80, k.pick(f.code, [i for i, _ in f.items]))
    if f.type == "boolean":
        return k.chance(f.code, 40)
    return k.maybe(f.code, 70, k.pick(f.code, REGIONS))


def _audit(k: Kit, refs: Refs) -> dict[str, Gen]:
    users = refs["user"]
    return {
        "ASSIGNED_BY_ID": k.ref("ASSIGNED_BY_ID", users),
        "CREATED_BY_ID": k.ref("CREATED_BY_ID", users),
        "MODIFY_BY_ID": k.ref("MODIFY_BY_ID", users),
        "MOVED_BY_ID": k.ref("MOVED_BY_ID", users),
        "LAST_ACTIVITY_BY": k.ref("LAST_ACTIVITY_BY", users),
        "DATE_CREATE": k.created,
        "DATE_MODIFY": k.modified,
        "MOVED_TIME": k.moment("MOVED_TIME"),
        "LAST_ACTIVITY_TIME": k.modified,
        "OPENED": k.chance("OPENED", 90),
        "SOURCE_ID": k.maybe("SOURCE_ID", 85, k.pick("SOURCE_ID", SOURCES)),
        "CURRENCY_ID": k.pick("CURRENCY_ID", CURRENCIES, (70, 20, 10)),
        "COMMENTS": k.maybe("COMMENTS", 20, k.pick("COMMENTS", COMMENTS)),
        "UTM_SOURCE": k.maybe("UTM_SOURCE", 15, k.pick("UTM_SOURCE", ("google", "yandex", "newsletter"))),
        "UTM_MEDIUM": k.maybe("UTM_MEDIUM", 10, k.pick("UTM_MEDIUM", ("cpc", "email", "organic"))),
    }


def _contacts_info(k: Kit, entity: str, name: Callable[[int], str]) -> dict[str, Gen]:
    """HAS_PHONE/HAS_EMAIL/HAS_IMOL and the PHONE/EMAIL multi-fields that agree with them."""
    has_phone, has_email = k.chance("HAS_PHONE", 70), k.chance("HAS_EMAIL", 60)
    digits = k.hasher("PHONE")
    base = _ENTITY_INDEX[entity] * 10_000_000_000

    def phone(rid: int) -> list[dict[str, Any]]:
        if not has_phone(rid):
            return []
        d = digits(rid)
        value = f"+7 9{d % 100:02d} {d // 100 % 1000:03d}-{d // 10**5 % 100:02d}-{d // 10**7 % 100:02d}"
        return [{"ID": base + rid * 4, "VALUE_TYPE": "WORK", "VALUE": value, "TYPE_ID": "PHONE"}]

    def email(rid: int) -> list[dict[str, Any]]:
        if not has_email(rid):
            return []
        value = f"{name(rid).lower().replace(' ', '.')}.{rid}@example.com"
        return [{"ID": base + rid * 4 + 1, "VALUE_TYPE": "WORK", "VALUE": value, "TYPE_ID": "EMAIL"}]

    return {
        "HAS_PHONE": has_phone,
        "HAS_EMAIL": has_email,
        "HAS_IMOL": k.chance("HAS_IMOL", 5),
        "PHONE": phone,
        "EMAIL": email,
    }


def _deal(k: Kit, refs: Refs) -> dict[str, Gen]:
    category = k.pick("CATEGORY_ID", (0, 1, 2), (70, 20, 10))
    raw_stage = k.pick("STAGE_ID", [s for s, _ in DEAL_STAGES], [w for _, w in DEAL_STAGES])
    product, company, template = k.pick("T.p", PRODUCTS), k.pick("T.c", COMPANY_NAMES), k.hasher("T.t")
    contact = k.ref("CONTACT_ID", refs["contact"], 70)
    lasts = k.number("CLOSEDATE", 7, 90)

    stage = k.combine(lambda c, s: s if c == 0 else f"C{c}:{s}", category, raw_stage)

    def title(rid: int, t: int, what: str, company: str) -> str:
        if t % 10 < 2:
            return f"Deal #{rid}"
        return f"{what[:1].upper()}{what[1:]} for {company}"

    return {
        **_audit(k, refs),
        "TITLE": k.combine(title, k.ident(), template, product, company),
        "TYPE_ID": k.pick("TYPE_ID", ("SALE", "COMPLEX", "GOODS", "SERVICES", "SERVICE")),
        "CATEGORY_ID": category,
        "STAGE_ID": stage,
        "STAGE_SEMANTIC_ID": k.combine(deal_semantic, stage),
        "IS_NEW": k.combine(lambda s: s.endswith("NEW"), stage),
        "IS_RECURRING": k.const(False),
        "IS_RETURN_CUSTOMER": k.chance("IS_RETURN_CUSTOMER", 15),
        "IS_REPEATED_APPROACH": k.chance("IS_REPEATED_APPROACH", 5),
        "PROBABILITY": k.maybe("PROBABILITY", 40, k.pick("PROBABILITY", (10, 20, 30, 50, 70, 90))),
        "OPPORTUNITY": k.money("OPPORTUNITY", 0, 2_000_000),
        "IS_MANUAL_OPPORTUNITY": k.chance("IS_MANUAL_OPPORTUNITY", 20),
        "TAX_VALUE": k.const(0.0),
        "COMPANY_ID": k.ref("COMPANY_ID", refs["company"], 60),
        "CONTACT_ID": contact,
        "CONTACT_IDS": k.combine(lambda c: [] if c is None else [c], contact),
        "BEGINDATE": k.combine(day_of, k.created),
        "CLOSEDATE": k.combine(lambda c, n: day_of(c) + n * DAY, k.created, lasts),
        "CLOSED": k.combine(lambda s: deal_semantic(s) != "P", stage),
        "LEAD_ID": k.ref("LEAD_ID", refs["lead"], 25),
    }


def _birthdate(k: Kit) -> Gen:
    """A day between 1960 and 1998."""
    return k.combine(lambda h: day_of(-315619200 + h % 1_200_000_000), k.hasher("BIRTHDATE"))


def _person(k: Kit) -> tuple[Callable[[int], str], Callable[[int], str | None]]:
    return k.pick("NAME", FIRST_NAMES), k.maybe("LAST_NAME", 85, k.pick("LAST_NAME", LAST_NAMES))


def _lead(k: Kit, refs: Refs) -> dict[str, Gen]:
    first, last = _person(k)
    status = k.pick("STATUS_ID", [s for s, _ in LEAD_STATUSES], [w for _, w in LEAD_STATUSES])
    product, template = k.pick("T.p", PRODUCTS), k.hasher("T.t")

    def title(rid: int, t: int, what: str) -> str:
        return f"Lead #{rid}" if t % 10 < 3 else f"Inquiry: {what}"

    def closed(status: str, modified: int) -> int | None:
        return None if lead_semantic(status) == "P" else modified

    return {
        **_audit(k, refs),
        **_contacts_info(k, "lead", lambda rid: f"{first(rid)} {last(rid) or ''}".strip()),
        "TITLE": k.combine(title, k.ident(), template, product),
        "HONORIFIC": k.maybe("HONORIFIC", 30, k.pick("HONORIFIC", ("HNR_EN_1", "HNR_EN_2", "HNR_EN_3"))),
        "NAME": first,
        "LAST_NAME": last,
        "COMPANY_TITLE": k.maybe("COMPANY_TITLE", 40, k.pick("COMPANY_TITLE", COMPANY_NAMES)),
        "COMPANY_ID": k.ref("COMPANY_ID", refs["company"], 10),
        "CONTACT_ID": k.ref("CONTACT_ID", refs["contact"], 15),
        "IS_RETURN_CUSTOMER": k.chance("IS_RETURN_CUSTOMER", 10),
        "BIRTHDATE": k.maybe("BIRTHDATE", 10, _birthdate(k)),
        "STATUS_ID": status,
        "STATUS_SEMANTIC_ID": k.combine(lead_semantic, status),
        "POST": k.maybe("POST", 30, k.pick("POST", POSTS)),
        "OPPORTUNITY": k.money("OPPORTUNITY", 0, 500_000),
        "IS_MANUAL_OPPORTUNITY": k.chance("IS_MANUAL_OPPORTUNITY", 10),
        "DATE_CLOSED": k.combine(closed, status, k.modified),
        "ADDRESS_CITY": k.maybe("ADDRESS_CITY", 30, k.pick("ADDRESS_CITY", CITIES)),
    }


def _contact(k: Kit, refs: Refs) -> dict[str, Gen]:
    first, last = _person(k)
    company = k.ref("COMPANY_ID", refs["company"], 60)
    gens = _audit(k, refs)
    for moved in ("MOVED_BY_ID", "MOVED_TIME"):
        del gens[moved]
    return {
        **gens,
        **_contacts_info(k, "contact", lambda rid: f"{first(rid)} {last(rid) or ''}".strip()),
        "HONORIFIC": k.maybe("HONORIFIC", 30, k.pick("HONORIFIC", ("HNR_EN_1", "HNR_EN_2", "HNR_EN_3"))),
        "NAME": first,
        "LAST_NAME": last,
        "SECOND_NAME": k.maybe("SECOND_NAME", 20, k.pick("SECOND_NAME", FIRST_NAMES)),
        "BIRTHDATE": k.maybe("BIRTHDATE", 30, _birthdate(k)),
        "TYPE_ID": k.pick("TYPE_ID", ("CLIENT", "SUPPLIER", "PARTNER", "OTHER"), (70, 10, 10, 10)),
        "POST": k.maybe("POST", 50, k.pick("POST", POSTS)),
        "EXPORT": k.const(True),
        "COMPANY_ID": company,
        "COMPANY_IDS": k.combine(lambda c: [] if c is None else [c], company),
        "LEAD_ID": k.ref("LEAD_ID", refs["lead"], 20),
        "ADDRESS_CITY": k.maybe("ADDRESS_CITY", 40, k.pick("ADDRESS_CITY", CITIES)),
    }


def _company(k: Kit, refs: Refs) -> dict[str, Gen]:
    name, suffix = k.pick("T.n", COMPANY_NAMES), k.pick("T.s", COMPANY_SUFFIXES)
    gens = _audit(k, refs)
    for moved in ("MOVED_BY_ID", "MOVED_TIME"):
        del gens[moved]
    return {
        **gens,
        **_contacts_info(k, "company", lambda rid: f"info {name(rid)}"),
        "TITLE": k.combine(lambda n, s: f"{n} {s}", name, suffix),
        "COMPANY_TYPE": k.pick("COMPANY_TYPE", ("CUSTOMER", "SUPPLIER", "COMPETITOR", "PARTNER", "OTHER")),
        "INDUSTRY": k.pick(
            "INDUSTRY", ("IT", "TELECOM", "MANUFACTURING", "BANKING", "CONSULTING", "DELIVERY")
        ),
        "EMPLOYEES": k.pick("EMPLOYEES", ("EMPLOYEES_1", "EMPLOYEES_2", "EMPLOYEES_3", "EMPLOYEES_4")),
        "REVENUE": k.maybe("REVENUE", 60, k.money("REVENUE", 100_000, 90_000_000)),
        "IS_MY_COMPANY": lambda rid: rid == k.first,
        "LEAD_ID": k.ref("LEAD_ID", refs["lead"], 10),
        "ADDRESS_CITY": k.maybe("ADDRESS_CITY", 60, k.pick("ADDRESS_CITY", CITIES)),
    }


def _item(k: Kit, refs: Refs) -> dict[str, Gen]:
    users = refs["user"]
    stage = k.pick("STAGE_ID", [s for s, _ in ITEM_STAGES], [w for _, w in ITEM_STAGES])
    product = k.pick("T.p", PRODUCTS)
    contact = k.ref("CONTACT_ID", refs["contact"], 60)
    observer = k.ref("OBSERVERS", users, 30)
    lasts = k.number("CLOSEDATE", 7, 60)
    return {
        "XML_ID": k.const(""),
        "TITLE": lambda rid: f"Order #{rid}: {product(rid)}",
        "CREATED_BY": k.ref("CREATED_BY", users),
        "UPDATED_BY": k.ref("UPDATED_BY", users),
        "MOVED_BY": k.ref("MOVED_BY", users),
        "CREATED_TIME": k.created,
        "UPDATED_TIME": k.modified,
        "MOVED_TIME": k.moment("MOVED_TIME"),
        "CATEGORY_ID": k.const(12),
        "OPENED": k.chance("OPENED", 90),
        "STAGE_ID": stage,
        "PREVIOUS_STAGE_ID": k.maybe(
            "PREVIOUS_STAGE_ID", 50, k.pick("PREVIOUS_STAGE_ID", [s for s, _ in ITEM_STAGES])
        ),
        "BEGINDATE": lambda rid: day_of(k.created(rid)),
        "CLOSEDATE": lambda rid: day_of(k.created(rid)) + lasts(rid) * DAY,
        "COMPANY_ID": k.ref("COMPANY_ID", refs["company"], 50),
        "CONTACT_ID": contact,
        "CONTACT_IDS": lambda rid: [] if (c := contact(rid)) is None else [c],
        "OPPORTUNITY": k.money("OPPORTUNITY", 0, 300_000),
        "IS_MANUAL_OPPORTUNITY": k.chance("IS_MANUAL_OPPORTUNITY", 30),
        "TAX_VALUE": k.const(0.0),
        "CURRENCY_ID": k.pick("CURRENCY_ID", CURRENCIES, (70, 20, 10)),
        "SOURCE_ID": k.maybe("SOURCE_ID", 70, k.pick("SOURCE_ID", SOURCES)),
        "ASSIGNED_BY_ID": k.ref("ASSIGNED_BY_ID", users),
        "LAST_ACTIVITY_BY": k.ref("LAST_ACTIVITY_BY", users),
        "LAST_ACTIVITY_TIME": k.modified,
        "OBSERVERS": lambda rid: [] if (u := observer(rid)) is None else [u],
        "PARENT_ID_2": k.ref("PARENT_ID_2", refs["deal"], 40),
    }


_BUILDERS: dict[str, Callable[[Kit, Refs], dict[str, Gen]]] = {
    "deal": _deal,
    "lead": _lead,
    "contact": _contact,
    "company": _company,
    "item": _item,
    "task": task_gens,
    "user": user_gens,
    "department": department_gens,
    "list_element": list_element_gens,
    "storage": storage_gens,
    "disk_object": disk_object_gens,
    "product": product_gens,
}


def build_gens(entity: str, k: Kit, refs: Refs) -> dict[str, Gen]:
    """A generator for every field of the entity (None or [] where nothing is specified)."""
    specific = _BUILDERS[entity](k, refs)
    gens: dict[str, Gen] = {}
    for f in SCHEMAS[entity].fields:
        if f.code == "ID":
            gens["ID"] = k.ident()
        elif f.code in specific:
            gens[f.code] = specific[f.code]
        elif f.uf and entity in _CRM:
            gens[f.code] = _uf_gen(k, f)
        elif f.multiple:
            gens[f.code] = k.const([])
        else:
            gens[f.code] = k.const(None)
    return gens
