"""Field definitions of the emulated portal's entities, shaped like ``crm.*.fields`` on a real portal.

Every field has one canonical code (the classic UPPER name, also used by task filters and
``user.get``) and, where the entity is visible through ``crm.item.*`` or ``tasks.task.*``, a
camelCase name. Values are kept canonical in the store (int, float, str, bool, epoch seconds,
lists) and rendered per method family by :mod:`.values`. Each classic CRM entity and the smart
process carry six ``UF_CRM_*`` user fields (string, double, datetime, enumeration, boolean and a
multiple string).
"""

from __future__ import annotations

from .fields_crm import company_fields, contact_fields, deal_fields, lead_fields
from .fields_other import (
    department_fields,
    disk_object_fields,
    list_element_fields,
    product_fields,
    smart_process_fields,
    storage_fields,
    task_fields,
    user_fields,
)
from .fieldspec import SMART_PROCESS_TYPE_ID, Field, Schema, camel_name, describe, spec

__all__ = [
    "ITEM_TYPES",
    "SCHEMAS",
    "SMART_PROCESS_TYPE_ID",
    "Field",
    "Schema",
    "camel_name",
    "describe",
    "spec",
]

#: Store entity -> its fields.
SCHEMAS: dict[str, Schema] = {
    "deal": Schema("deal", deal_fields(), 2),
    "lead": Schema("lead", lead_fields(), 1),
    "contact": Schema("contact", contact_fields(), 3),
    "company": Schema("company", company_fields(), 4),
    "item": Schema("item", smart_process_fields(), SMART_PROCESS_TYPE_ID),
    "task": Schema("task", task_fields()),
    "user": Schema("user", user_fields()),
    "department": Schema("department", department_fields()),
    "list_element": Schema("list_element", list_element_fields()),
    "storage": Schema("storage", storage_fields()),
    "disk_object": Schema("disk_object", disk_object_fields()),
    "product": Schema("product", product_fields()),
}
#: crm.item entityTypeId -> store entity.
ITEM_TYPES = {1: "lead", 2: "deal", 3: "contact", 4: "company", SMART_PROCESS_TYPE_ID: "item"}
