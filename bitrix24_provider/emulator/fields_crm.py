"""Fields of the classic CRM entities (deal, lead, contact, company), in ``crm.*.fields`` order."""

from __future__ import annotations

from .fieldspec import Field, address_fields, multi_fields, spec, uf_fields, utm_fields

_COMPANY_SETTINGS = {"parentEntityTypeId": 4}


def _audit(*, moved: bool = True) -> tuple[Field, ...]:
    fields: tuple[Field, ...] = (
        spec("ASSIGNED_BY_ID", "user", "Responsible person"),
        spec("CREATED_BY_ID", "user", "Created by", "O"),
        spec("MODIFY_BY_ID", "user", "Modified by", "O"),
        spec("DATE_CREATE", "datetime", "Created on", "O"),
        spec("DATE_MODIFY", "datetime", "Modified on", "O"),
    )
    if moved:
        fields += (
            spec("MOVED_BY_ID", "user", "Moved by", "O"),
            spec("MOVED_TIME", "datetime", "Moved on", "O"),
        )
    return fields


def _activity() -> tuple[Field, ...]:
    return (
        spec("LAST_ACTIVITY_TIME", "datetime", "Last activity", "O"),
        spec("LAST_ACTIVITY_BY", "user", "Last activity by", "O"),
    )


def _origin() -> tuple[Field, ...]:
    return (
        spec("ORIGINATOR_ID", "string", "External source"),
        spec("ORIGIN_ID", "string", "Item ID in data source"),
    )


def deal_fields() -> tuple[Field, ...]:
    return (
        spec("ID", "integer", "ID", "O"),
        spec("TITLE", "string", "Name"),
        spec("TYPE_ID", "crm_status", "Type", status_type="DEAL_TYPE"),
        spec("CATEGORY_ID", "crm_category", "Pipeline", "I"),
        spec("STAGE_ID", "crm_status", "Deal stage", status_type="DEAL_STAGE"),
        spec("STAGE_SEMANTIC_ID", "string", "Stage group", "O"),
        spec("IS_NEW", "char", "New deal", "O"),
        spec("IS_RECURRING", "char", "Recurring deal"),
        spec("IS_RETURN_CUSTOMER", "char", "Repeat deal", "O"),
        spec("IS_REPEATED_APPROACH", "char", "Repeat inquiry", "O"),
        spec("PROBABILITY", "integer", "Probability"),
        spec("CURRENCY_ID", "crm_currency", "Currency"),
        spec("OPPORTUNITY", "double", "Amount"),
        spec("IS_MANUAL_OPPORTUNITY", "char", "IS_MANUAL_OPPORTUNITY"),
        spec("TAX_VALUE", "double", "Tax rate"),
        spec("COMPANY_ID", "crm_company", "Company", settings=_COMPANY_SETTINGS),
        spec("CONTACT_ID", "crm_contact", "Contact"),
        spec("CONTACT_IDS", "crm_contact", "Contacts", "MX"),
        spec("QUOTE_ID", "crm_quote", "Quote", "O"),
        spec("BEGINDATE", "date", "Start date"),
        spec("CLOSEDATE", "date", "End date"),
        spec("OPENED", "char", "Available to everyone"),
        spec("CLOSED", "char", "Closed"),
        spec("COMMENTS", "string", "Comment"),
        *_audit(),
        spec("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
        spec("SOURCE_DESCRIPTION", "string", "Source information"),
        spec("LEAD_ID", "crm_lead", "Lead", "O"),
        spec("ADDITIONAL_INFO", "string", "Additional information"),
        spec("LOCATION_ID", "location", "Location"),
        *_origin(),
        *utm_fields(),
        *_activity(),
        *uf_fields("", 1719812400100, "Deal"),
    )


def lead_fields() -> tuple[Field, ...]:
    return (
        spec("ID", "integer", "ID", "O"),
        spec("TITLE", "string", "Lead name", "R"),
        spec("HONORIFIC", "crm_status", "Salutation", status_type="HONORIFIC"),
        spec("NAME", "string", "First name"),
        spec("SECOND_NAME", "string", "Second name"),
        spec("LAST_NAME", "string", "Last name"),
        spec("COMPANY_TITLE", "string", "Company name"),
        spec("COMPANY_ID", "crm_company", "Company", settings=_COMPANY_SETTINGS),
        spec("CONTACT_ID", "crm_contact", "Contact"),
        spec("IS_RETURN_CUSTOMER", "char", "Repeat lead", "O"),
        spec("BIRTHDATE", "date", "Date of birth"),
        spec("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
        spec("SOURCE_DESCRIPTION", "string", "Source information"),
        spec("STATUS_ID", "crm_status", "Status", status_type="STATUS"),
        spec("STATUS_DESCRIPTION", "string", "Status information"),
        spec("POST", "string", "Position"),
        spec("COMMENTS", "string", "Comment"),
        spec("CURRENCY_ID", "crm_currency", "Currency"),
        spec("OPPORTUNITY", "double", "Total"),
        spec("IS_MANUAL_OPPORTUNITY", "char", "IS_MANUAL_OPPORTUNITY"),
        spec("HAS_PHONE", "char", "Has phone", "O"),
        spec("HAS_EMAIL", "char", "Has e-mail", "O"),
        spec("HAS_IMOL", "char", "Has Open Channel", "O"),
        spec("ASSIGNED_BY_ID", "user", "Responsible person"),
        spec("CREATED_BY_ID", "user", "Created by", "O"),
        spec("MODIFY_BY_ID", "user", "Modified by", "O"),
        spec("DATE_CREATE", "datetime", "Created on", "O"),
        spec("DATE_MODIFY", "datetime", "Modified on", "O"),
        spec("DATE_CLOSED", "datetime", "Completed on", "O"),
        spec("STATUS_SEMANTIC_ID", "string", "Status details", "O"),
        spec("OPENED", "char", "Available to everyone"),
        *_origin(),
        spec("MOVED_BY_ID", "user", "Moved by", "O"),
        spec("MOVED_TIME", "datetime", "Moved on", "O"),
        *address_fields(),
        *utm_fields(),
        *_activity(),
        *multi_fields(),
        *uf_fields("", 1719812500200, "Lead"),
    )


def contact_fields() -> tuple[Field, ...]:
    return (
        spec("ID", "integer", "ID", "O"),
        spec("HONORIFIC", "crm_status", "Salutation", status_type="HONORIFIC"),
        spec("NAME", "string", "First name"),
        spec("SECOND_NAME", "string", "Second name"),
        spec("LAST_NAME", "string", "Last name"),
        spec("PHOTO", "file", "Photo"),
        spec("BIRTHDATE", "date", "Date of birth"),
        spec("TYPE_ID", "crm_status", "Contact type", status_type="CONTACT_TYPE"),
        spec("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
        spec("SOURCE_DESCRIPTION", "string", "Source information"),
        spec("POST", "string", "Position"),
        spec("COMMENTS", "string", "Comment"),
        spec("OPENED", "char", "Available to everyone"),
        spec("EXPORT", "char", "Included in export"),
        spec("HAS_PHONE", "char", "Has phone", "O"),
        spec("HAS_EMAIL", "char", "Has e-mail", "O"),
        spec("HAS_IMOL", "char", "Has Open Channel", "O"),
        *_audit(moved=False),
        spec("COMPANY_ID", "crm_company", "Company", settings=_COMPANY_SETTINGS),
        spec("COMPANY_IDS", "crm_company", "Companies", "MX"),
        spec("LEAD_ID", "crm_lead", "Lead", "O"),
        *_origin(),
        *address_fields(),
        *utm_fields(),
        *_activity(),
        *multi_fields(),
        *uf_fields("", 1719812600300, "Contact"),
    )


def company_fields() -> tuple[Field, ...]:
    return (
        spec("ID", "integer", "ID", "O"),
        spec("TITLE", "string", "Company name", "R"),
        spec("COMPANY_TYPE", "crm_status", "Company type", status_type="COMPANY_TYPE"),
        spec("LOGO", "file", "Logo"),
        *address_fields(),
        spec("ADDRESS_LEGAL", "string", "Legal address"),
        spec("BANKING_DETAILS", "string", "Payment details"),
        spec("INDUSTRY", "crm_status", "Industry", status_type="INDUSTRY"),
        spec("EMPLOYEES", "crm_status", "Employees", status_type="EMPLOYEES"),
        spec("CURRENCY_ID", "crm_currency", "Currency"),
        spec("REVENUE", "double", "Annual revenue"),
        spec("OPENED", "char", "Available to everyone"),
        spec("COMMENTS", "string", "Comment"),
        spec("HAS_PHONE", "char", "Has phone", "O"),
        spec("HAS_EMAIL", "char", "Has e-mail", "O"),
        spec("HAS_IMOL", "char", "Has Open Channel", "O"),
        spec("IS_MY_COMPANY", "char", "My company"),
        *_audit(moved=False),
        spec("LEAD_ID", "crm_lead", "Lead", "O"),
        *_origin(),
        *utm_fields(),
        *_activity(),
        *multi_fields(),
        *uf_fields("", 1719812700400, "Company"),
    )
