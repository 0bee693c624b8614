"""How a field is described: :class:`Field`, :class:`Schema` and compact constructors.

The entities themselves are declared in :mod:`.fields_crm` and :mod:`.fields_other` and
collected in :mod:`.fields`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: entityTypeId of the emulated smart process.
SMART_PROCESS_TYPE_ID = 1032

#: Field types whose values are integers (ids and links).
INT_TYPES = frozenset(
    {"integer", "user", "crm_company", "crm_contact", "crm_lead", "crm_deal", "crm_entity", "crm_category",
     "crm_quote", "enumeration", "group"}
)  # fmt: skip
FLOAT_TYPES = frozenset({"double", "money"})
BOOL_TYPES = frozenset({"char", "boolean"})
DATE_TYPES = frozenset({"datetime", "date"})


@dataclass(frozen=True, eq=False)
class Field:
    """One field of an entity."""

    code: str
    type: str
    title: str
    camel: str | None = None
    required: bool = False
    read_only: bool = False
    immutable: bool = False
    multiple: bool = False
    #: Selected by ``*`` (classic multi-fields such as PHONE or CONTACT_IDS are not).
    in_star: bool = True
    status_type: str | None = None
    settings: dict[str, Any] | None = None
    #: User field (``UF_*``); its label goes to listLabel/formLabel/filterLabel.
    uf: bool = False
    label: str | None = None
    #: Enumeration items ``(id, value)``.
    items: tuple[tuple[int, str], ...] = ()
    #: Canonical value kind: int, float, bool, date, multifield or str (derived from ``type``).
    kind: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _kind(self.type))


def _kind(type_: str) -> str:
    if type_ in INT_TYPES:
        return "int"
    if type_ in FLOAT_TYPES:
        return "float"
    if type_ in BOOL_TYPES:
        return "bool"
    if type_ in DATE_TYPES:
        return "date"
    return "multifield" if type_ == "crm_multifield" else "str"


@dataclass
class Schema:
    """The fields of one entity, looked up by code or camelCase name."""

    entity: str
    fields: tuple[Field, ...]
    entity_type_id: int | None = None
    by_code: dict[str, Field] = field(init=False)
    by_camel: dict[str, Field] = field(init=False)

    def __post_init__(self) -> None:
        self.by_code = {f.code: f for f in self.fields}
        self.by_camel = {f.camel: f for f in self.fields if f.camel}

    @property
    def id_field(self) -> Field:
        return self.by_code["ID"]


_CAMEL_EXCEPTIONS = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
    "MOVED_BY_ID": "movedBy",
    "STATUS_ID": "stageId",
    "STATUS_SEMANTIC_ID": "stageSemanticId",
    "COMPANY_TYPE": "typeId",
}


def camel_name(code: str) -> str:
    """``ASSIGNED_BY_ID`` -> ``assignedById``, ``UF_CRM_5_17`` -> ``ufCrm5_17``, ``UF_CRM_17`` -> ``ufCrm_17``

    Exceptions follow crm.item (``DATE_MODIFY`` -> ``updatedTime``, ``STATUS_ID`` -> ``stageId``, ...).
    """
    if code.startswith("UF_CRM_"):
        rest = code[len("UF_CRM_") :]
        head, sep, tail = rest.partition("_")
        if sep and head.isdigit() and tail:
            return f"ufCrm{head}_{tail}"
        return f"ufCrm_{rest}"
    if code in _CAMEL_EXCEPTIONS:
        return _CAMEL_EXCEPTIONS[code]
    first, *rest_parts = code.lower().split("_")
    return first + "".join(p.capitalize() for p in rest_parts)


def spec(
    code: str,
    type_: str,
    title: str,
    flags: str = "",
    *,
    camel: str | bool | None = True,
    status_type: str | None = None,
    settings: dict[str, Any] | None = None,
    items: tuple[tuple[int, str], ...] = (),
) -> Field:
    """Compact field constructor. Flags: R required, O read-only, I immutable, M multiple, X not in ``*``."""
    uf = code.startswith("UF_")
    name: str | None
    if camel is True:
        name = camel_name(code)
    elif camel is False:
        name = None
    else:
        name = camel
    return Field(
        code=code,
        type=type_,
        title=code if uf else title,
        camel=name,
        required="R" in flags,
        read_only="O" in flags,
        immutable="I" in flags,
        multiple="M" in flags,
        in_star="X" not in flags and type_ != "crm_multifield",
        status_type=status_type,
        settings=settings,
        uf=uf,
        label=title if uf else None,
        items=items,
    )


def describe(f: Field, *, item_style: bool = False) -> dict[str, Any]:
    """The ``*.fields`` description of one field (classic; ``item_style`` adds ``upperName``)."""
    out: dict[str, Any] = {
        "type": f.type,
        "isRequired": f.required,
        "isReadOnly": f.read_only,
        "isImmutable": f.immutable,
        "isMultiple": f.multiple,
        "isDynamic": f.uf,
    }
    if f.status_type:
        out["statusType"] = f.status_type
    out["title"] = f.title
    if f.uf:
        out["listLabel"] = out["formLabel"] = out["filterLabel"] = f.label
        out["settings"] = dict(f.settings or {"DEFAULT_VALUE": None})
        if f.items:
            out["items"] = [{"ID": str(i), "VALUE": v} for i, v in f.items]
    elif f.settings is not None:
        out["settings"] = dict(f.settings)
    if item_style:
        out["upperName"] = f.code
    return out


def uf_fields(prefix: str, stamp: int, entity_title: str) -> tuple[Field, ...]:
    """A realistic set of user fields: string, double, datetime, enumeration, boolean, multiple string."""
    base = f"UF_CRM_{prefix}" if prefix else "UF_CRM_"
    string_settings = {
        "SIZE": 20,
        "ROWS": 1,
        "REGEXP": "",
        "MIN_LENGTH": 0,
        "MAX_LENGTH": 0,
        "DEFAULT_VALUE": None,
    }
    return (
        spec(f"{base}{stamp + 1}", "string", f"{entity_title} region", settings=string_settings),
        spec(
            f"{base}{stamp + 2}",
            "double",
            "Expected margin",
            settings={"PRECISION": 2, "DEFAULT_VALUE": None},
        ),
        spec(f"{base}{stamp + 3}", "datetime", "Next contact", settings={"DEFAULT_VALUE": {"TYPE": "NONE"}}),
        spec(
            f"{base}{stamp + 4}",
            "enumeration",
            "Priority",
            settings={"DISPLAY": "LIST", "LIST_HEIGHT": 1, "DEFAULT_VALUE": ""},
            items=((45, "Low"), (47, "Normal"), (49, "High")),
        ),
        spec(
            f"{base}{stamp + 5}", "boolean", "Verified", settings={"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX"}
        ),
        spec(f"{base}{stamp + 6}", "string", "Tags", "M", settings=string_settings),
    )


def address_fields() -> tuple[Field, ...]:
    return (
        spec("ADDRESS", "string", "Address"),
        spec("ADDRESS_2", "string", "Address (line 2)"),
        spec("ADDRESS_CITY", "string", "City"),
        spec("ADDRESS_POSTAL_CODE", "string", "ZIP"),
        spec("ADDRESS_REGION", "string", "Region"),
        spec("ADDRESS_PROVINCE", "string", "State / Province"),
        spec("ADDRESS_COUNTRY", "string", "Country"),
        spec("ADDRESS_COUNTRY_CODE", "string", "Country code"),
        spec("ADDRESS_LOC_ADDR_ID", "integer", "Location address ID"),
    )


def utm_fields() -> tuple[Field, ...]:
    return tuple(
        spec(f"UTM_{p}", "string", f"{p.capitalize()} UTM")
        for p in ("SOURCE", "MEDIUM", "CAMPAIGN", "CONTENT", "TERM")
    )


def multi_fields() -> tuple[Field, ...]:
    return (
        spec("PHONE", "crm_multifield", "Phone", "M", camel=False),
        spec("EMAIL", "crm_multifield", "E-mail", "M", camel=False),
        spec("WEB", "crm_multifield", "Website", "M", camel=False),
        spec("IM", "crm_multifield", "Messenger", "M", camel=False),
    )
