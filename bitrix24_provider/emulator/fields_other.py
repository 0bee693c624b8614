"""Fields of the smart process (crm.item entityTypeId 1032), tasks, users and the other paged lists:
departments, universal list elements, disk storages and folder children, catalog products."""

from __future__ import annotations

from .fieldspec import SMART_PROCESS_TYPE_ID, Field, spec, uf_fields

SMART_PROCESS_CATEGORY = 12
_STAGE_TYPE = f"DYNAMIC_{SMART_PROCESS_TYPE_ID}_STAGE_{SMART_PROCESS_CATEGORY}"


def smart_process_fields() -> tuple[Field, ...]:
    return (
        spec("ID", "integer", "ID", "O"),
        spec("XML_ID", "string", "External code"),
        spec("TITLE", "string", "Name"),
        spec("CREATED_BY", "user", "Created by", "O"),
        spec("UPDATED_BY", "user", "Updated by", "O"),
        spec("MOVED_BY", "user", "Moved by", "O"),
        spec("CREATED_TIME", "datetime", "Created at", "O"),
        spec("UPDATED_TIME", "datetime", "Updated at", "O"),
        spec("MOVED_TIME", "datetime", "Moved at", "O"),
        spec("CATEGORY_ID", "crm_category", "Pipeline"),
        spec("OPENED", "boolean", "Publicly available", "R"),
        spec("STAGE_ID", "crm_status", "Stage", status_type=_STAGE_TYPE),
        spec("PREVIOUS_STAGE_ID", "crm_status", "Previous stage", "O", status_type=_STAGE_TYPE),
        spec("BEGINDATE", "date", "Start date"),
        spec("CLOSEDATE", "date", "End date"),
        spec("COMPANY_ID", "crm_company", "Company", settings={"parentEntityTypeId": 4}),
        spec("CONTACT_ID", "crm_contact", "Contact"),
        spec("CONTACT_IDS", "crm_contact", "CONTACT_IDS", "MX"),
        spec("OPPORTUNITY", "double", "Amount"),
        spec("IS_MANUAL_OPPORTUNITY", "boolean", "Amount calculation mode"),
        spec("TAX_VALUE", "double", "Tax amount"),
        spec("CURRENCY_ID", "crm_currency", "Currency"),
        spec("MYCOMPANY_ID", "crm_company", "Your company details", camel="mycompanyId"),
        spec("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
        spec("SOURCE_DESCRIPTION", "text", "Additional source info"),
        spec("WEBFORM_ID", "integer", "Created by CRM form"),
        spec("ASSIGNED_BY_ID", "user", "Assigned to"),
        spec("LAST_ACTIVITY_BY", "user", "Last activity in timeline by", "O"),
        spec("LAST_ACTIVITY_TIME", "datetime", "Last activity", "O"),
        spec("OBSERVERS", "user", "Observers", "MX"),
        spec("PARENT_ID_2", "crm_entity", "Deal", camel="parentId2", settings={"parentEntityTypeId": 2}),
        *uf_fields("5_", 1719812800500, "Item"),
    )


def _y(code: str, title: str) -> Field:
    return spec(code, "char", title)


def task_fields() -> tuple[Field, ...]:
    return (
        spec("ID", "integer", "ID", "O"),
        spec("PARENT_ID", "integer", "Parent task ID"),
        spec("TITLE", "string", "Name", "R"),
        spec("DESCRIPTION", "string", "Description"),
        spec("MARK", "string", "Rating"),
        spec("PRIORITY", "integer", "Priority"),
        spec("STATUS", "integer", "Status"),
        spec("SUB_STATUS", "integer", "Real status", "O"),
        _y("MULTITASK", "Multiple assignees"),
        _y("NOT_VIEWED", "Not viewed"),
        _y("REPLICATE", "Recurring task"),
        spec("GROUP_ID", "group", "Project"),
        spec("STAGE_ID", "integer", "Stage"),
        spec("CREATED_BY", "user", "Created by"),
        spec("CREATED_DATE", "datetime", "Created on", "O"),
        spec("RESPONSIBLE_ID", "user", "Assignee", "R"),
        spec("ACCOMPLICES", "user", "Participants", "M"),
        spec("AUDITORS", "user", "Observers", "M"),
        spec("CHANGED_BY", "user", "Modified by", "O"),
        spec("CHANGED_DATE", "datetime", "Modified on", "O"),
        spec("STATUS_CHANGED_BY", "user", "Status changed by", "O"),
        spec("STATUS_CHANGED_DATE", "datetime", "Status changed on", "O"),
        spec("CLOSED_BY", "user", "Closed by", "O"),
        spec("CLOSED_DATE", "datetime", "Closed on", "O"),
        spec("ACTIVITY_DATE", "datetime", "Last activity", "O"),
        spec("DATE_START", "datetime", "Started on"),
        spec("DEADLINE", "datetime", "Deadline"),
        spec("START_DATE_PLAN", "datetime", "Planned start"),
        spec("END_DATE_PLAN", "datetime", "Planned finish"),
        spec("GUID", "string", "GUID", "O"),
        spec("XML_ID", "string", "External ID"),
        spec("COMMENTS_COUNT", "integer", "Comments", "O"),
        _y("ALLOW_CHANGE_DEADLINE", "Assignee can change deadline"),
        _y("ALLOW_TIME_TRACKING", "Task time tracking"),
        _y("TASK_CONTROL", "Approve task when completed"),
        _y("ADD_IN_REPORT", "Add to report"),
        spec("TIME_ESTIMATE", "integer", "Time estimate"),
        spec("TIME_SPENT_IN_LOGS", "integer", "Time spent", "O"),
        _y("MATCH_WORK_TIME", "Skip weekends and holidays"),
        spec("SITE_ID", "string", "Site"),
        _y("SUBORDINATE", "Subordinate's task"),
        _y("FAVORITE", "Favorites"),
        spec("DURATION_PLAN", "integer", "Planned duration"),
        spec("DURATION_TYPE", "string", "Duration unit"),
        _y("IS_MUTED", "Muted"),
        _y("IS_PINNED", "Pinned"),
        spec("UF_CRM_TASK", "crm", "CRM items", "M", camel="ufCrmTask"),
    )


def user_fields() -> tuple[Field, ...]:
    def u(code: str, type_: str, title: str, flags: str = "") -> Field:
        return spec(code, type_, title, flags, camel=False)

    return (
        u("ID", "integer", "ID", "O"),
        u("XML_ID", "string", "External code"),
        u("ACTIVE", "boolean", "Active"),
        u("NAME", "string", "First name"),
        u("LAST_NAME", "string", "Last name"),
        u("SECOND_NAME", "string", "Second name"),
        u("TITLE", "string", "Title"),
        u("EMAIL", "string", "E-Mail"),
        u("LAST_LOGIN", "datetime", "Last login", "O"),
        u("DATE_REGISTER", "datetime", "Registered on", "O"),
        u("TIME_ZONE", "string", "TIME_ZONE"),
        u("IS_ONLINE", "char", "IS_ONLINE", "O"),
        u("TIME_ZONE_OFFSET", "integer", "TIME_ZONE_OFFSET", "O"),
        u("TIMESTAMP_X", "datetime", "TIMESTAMP_X", "O"),
        u("LAST_ACTIVITY_DATE", "datetime", "LAST_ACTIVITY_DATE", "O"),
        u("PERSONAL_GENDER", "string", "Gender"),
        u("PERSONAL_PROFESSION", "string", "Profession"),
        u("PERSONAL_WWW", "string", "Home page"),
        u("PERSONAL_BIRTHDAY", "date", "Date of birth"),
        u("PERSONAL_PHOTO", "string", "Photo"),
        u("PERSONAL_PHONE", "string", "Personal phone"),
        u("PERSONAL_MOBILE", "string", "Personal mobile"),
        u("PERSONAL_CITY", "string", "City"),
        u("WORK_COMPANY", "string", "Company"),
        u("WORK_POSITION", "string", "Position"),
        u("WORK_PHONE", "string", "Work phone"),
        u("UF_DEPARTMENT", "integer", "Departments", "M"),
        u("UF_EMPLOYMENT_DATE", "date", "Employment date"),
        u("UF_PHONE_INNER", "string", "Extension number"),
        u("USER_TYPE", "string", "USER_TYPE", "O"),
    )


def department_fields() -> tuple[Field, ...]:
    """``department.get``: ids and the parent as strings, ``SORT`` an integer."""
    return (
        spec("ID", "integer", "ID", "O", camel=False),
        spec("NAME", "string", "Name", "R", camel=False),
        spec("SORT", "integer", "Sort", camel=False),
        spec("PARENT", "integer", "Parent department", camel=False),
        spec("UF_HEAD", "user", "Head", camel=False),
    )


def list_element_fields() -> tuple[Field, ...]:
    """``lists.element.get`` of the emulated universal list (its properties are ``PROPERTY_<id>``)."""
    return (
        spec("ID", "integer", "ID", "O", camel=False),
        spec("IBLOCK_ID", "integer", "List", "O", camel=False),
        spec("NAME", "string", "Name", "R", camel=False),
        spec("CODE", "string", "Code", camel=False),
        spec("IBLOCK_SECTION_ID", "integer", "Section", camel=False),
        spec("SORT", "integer", "Sort", camel=False),
        spec("CREATED_BY", "user", "Created by", "O", camel=False),
        spec("MODIFIED_BY", "user", "Modified by", "O", camel=False),
        spec("DATE_CREATE", "datetime", "Created on", "O", camel=False),
        spec("TIMESTAMP_X", "datetime", "Modified on", "O", camel=False),
        spec("PROPERTY_101", "string", "Contract number", camel=False),
        spec("PROPERTY_103", "double", "Amount", camel=False),
    )


def storage_fields() -> tuple[Field, ...]:
    """``disk.storage.getlist``: the shared documents, then one storage per user."""
    return (
        spec("ID", "integer", "ID", "O", camel=False),
        spec("NAME", "string", "Name", camel=False),
        spec("CODE", "string", "Code", camel=False),
        spec("MODULE_ID", "string", "Module", "O", camel=False),
        spec("ENTITY_TYPE", "string", "Owner type", "O", camel=False),
        spec("ENTITY_ID", "string", "Owner", "O", camel=False),
        spec("ROOT_OBJECT_ID", "integer", "Root folder", "O", camel=False),
    )


def disk_object_fields() -> tuple[Field, ...]:
    """``disk.folder.getchildren``: files and folders of the shared documents' root folder."""
    return (
        spec("ID", "integer", "ID", "O", camel=False),
        spec("NAME", "string", "Name", camel=False),
        spec("CODE", "string", "Code", camel=False),
        spec("STORAGE_ID", "integer", "Storage", "O", camel=False),
        spec("TYPE", "string", "Type", "O", camel=False),
        spec("PARENT_ID", "integer", "Folder", "O", camel=False),
        spec("DELETED_TYPE", "integer", "Deleted", "O", camel=False),
        spec("GLOBAL_CONTENT_VERSION", "integer", "Version", "O", camel=False),
        spec("FILE_ID", "integer", "File", "O", camel=False),
        spec("SIZE", "integer", "Size", "O", camel=False),
        spec("CREATE_TIME", "datetime", "Created on", "O", camel=False),
        spec("UPDATE_TIME", "datetime", "Modified on", "O", camel=False),
        spec("DELETE_TIME", "datetime", "Deleted on", "O", camel=False),
        spec("CREATED_BY", "user", "Created by", "O", camel=False),
        spec("UPDATED_BY", "user", "Modified by", "O", camel=False),
        spec("DELETED_BY", "user", "Deleted by", "O", camel=False),
    )


def product_fields() -> tuple[Field, ...]:
    """``catalog.product.list``: camelCase typed values (``active`` ``"Y"``/``"N"``)."""
    return (
        spec("ID", "integer", "ID", "O"),
        spec("IBLOCK_ID", "integer", "Catalog", "O"),
        spec("NAME", "string", "Name", "R"),
        spec("CODE", "string", "Code"),
        spec("XML_ID", "string", "External code"),
        spec("ACTIVE", "char", "Active"),
        spec("AVAILABLE", "char", "Available", "O"),
        spec("IBLOCK_SECTION_ID", "integer", "Section"),
        spec("SORT", "integer", "Sort"),
        spec("TYPE", "integer", "Product type", "O"),
        spec("MEASURE", "integer", "Unit"),
        spec("QUANTITY", "double", "Quantity"),
        spec("PURCHASING_PRICE", "double", "Purchase price"),
        spec("PURCHASING_CURRENCY", "string", "Purchase currency"),
        spec("VAT_INCLUDED", "char", "VAT included"),
        spec("CREATED_BY", "user", "Created by", "O"),
        spec("MODIFIED_BY", "user", "Modified by", "O"),
        spec("DATE_CREATE", "datetime", "Created on", "O", camel="dateCreate"),
        spec("TIMESTAMP_X", "datetime", "Modified on", "O"),
    )
