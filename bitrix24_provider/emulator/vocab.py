"""Word pools and status dictionaries the seeded portal draws from."""

from __future__ import annotations

FIRST_NAMES = (
    "Alexander", "Maria", "Dmitry", "Elena", "Ivan", "Olga", "Sergey", "Anna", "Pavel", "Natalia",
    "John", "Emily", "Michael", "Sofia", "David", "Laura", "Andrey", "Irina", "Peter", "Julia",
    "Мария", "Алексей",
)  # fmt: skip
LAST_NAMES = (
    "Ivanov", "Smirnova", "Kuznetsov", "Popova", "Sokolov", "Lebedeva", "Kozlov", "Novikova", "Morozov",
    "Volkova", "Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Davis", "Clark", "Lewis",
    "Walker", "Петров",
)  # fmt: skip
COMPANY_NAMES = (
    "Alpha", "Vector", "Nord", "Sigma", "Orbit", "Granite", "Delta", "Aurora", "Pioneer", "Zenith",
    "Horizon", "Atlas", "Meridian", "Quantum", "Baltika", "Ural Steel", "Ромашка",
)  # fmt: skip
COMPANY_SUFFIXES = ("LLC", "Ltd", "Group", "Trading", "Systems", "Logistics", "Consulting")
PRODUCTS = (
    "laptops", "office chairs", "server rack", "CRM implementation", "annual support", "printing paper",
    "cloud storage", "delivery service", "website redesign", "security audit", "training course",
    "spare parts", "поставка оборудования", 'warehouse "North" lease',
)  # fmt: skip
CITIES = ("Moscow", "Saint Petersburg", "Kazan", "Novosibirsk", "Yekaterinburg", "Berlin", "London", "Almaty")
REGIONS = ("North-West", "Central", "Volga", "Siberia", "Urals", "South", "EMEA", "APAC")
TAGS = ("vip", "wholesale", "retail", "partner", "urgent", "b2b", "export")
POSTS = ("CEO", "Sales manager", "Purchasing manager", "Accountant", "CTO", "Office manager")
COMMENTS = (
    "Call back next week",
    "Sent the price list",
    "[B]Important[/B] client, discount approved",
    "Waiting for the signed contract",
)
SOURCES = (
    "CALL",
    "EMAIL",
    "WEB",
    "ADVERTISING",
    "PARTNER",
    "RECOMMENDATION",
    "TRADE_SHOW",
    "WEBFORM",
    "OTHER",
)
CURRENCIES = ("RUB", "USD", "EUR")
DEPARTMENTS = (
    "Sales",
    "Marketing",
    "Accounting",
    "R&D",
    "Support",
    "Logistics",
    "HR",
    "Legal",
    "Отдел продаж",
)
FILE_NAMES = ("Contract", "Invoice", "Price list", "Presentation", "Report", "Photos", "Договор")
TASK_VERBS = (
    "Call",
    "Prepare an offer for",
    "Send the contract to",
    "Meet",
    "Check payment from",
    "Follow up with",
)

#: (stage, weight) of deals in the default pipeline; other pipelines prefix ``C<category>:``.
DEAL_STAGES = (
    ("NEW", 20), ("PREPARATION", 12), ("PREPAYMENT_INVOICE", 10), ("EXECUTING", 12),
    ("FINAL_INVOICE", 8), ("WON", 18), ("LOSE", 14), ("APOLOGY", 6),
)  # fmt: skip
LEAD_STATUSES = (("NEW", 25), ("IN_PROCESS", 25), ("PROCESSED", 15), ("CONVERTED", 20), ("JUNK", 15))
ITEM_STAGES = (
    ("DT1032_12:NEW", 30), ("DT1032_12:PREPARATION", 20), ("DT1032_12:CLIENT", 20),
    ("DT1032_12:SUCCESS", 20), ("DT1032_12:FAIL", 10),
)  # fmt: skip


def deal_semantic(stage: str) -> str:
    """``P`` (in progress), ``S`` (won) or ``F`` (lost) for a deal stage."""
    code = stage.rpartition(":")[2]
    return "S" if code == "WON" else "F" if code in ("LOSE", "APOLOGY") else "P"


def lead_semantic(status: str) -> str:
    return "S" if status == "CONVERTED" else "F" if status == "JUNK" else "P"


#: ``crm.status.list`` rows: (ENTITY_ID, STATUS_ID, NAME, SEMANTICS or None).
STATUS_ROWS: tuple[tuple[str, str, str, str | None], ...] = (
    *(("STATUS", s, s.replace("_", " ").capitalize(), lead_semantic(s)) for s, _ in LEAD_STATUSES),
    *(("DEAL_STAGE", s, s.replace("_", " ").capitalize(), deal_semantic(s)) for s, _ in DEAL_STAGES),
    *(
        ("DEAL_STAGE_1", f"C1:{s}", s.replace("_", " ").capitalize(), deal_semantic(s))
        for s, _ in DEAL_STAGES
    ),
    *(
        ("DEAL_STAGE_2", f"C2:{s}", s.replace("_", " ").capitalize(), deal_semantic(s))
        for s, _ in DEAL_STAGES
    ),
    *(("DEAL_TYPE", s, s.capitalize(), None) for s in ("SALE", "COMPLEX", "GOODS", "SERVICES", "SERVICE")),
    *(("SOURCE", s, s.replace("_", " ").capitalize(), None) for s in SOURCES),
    *(("CONTACT_TYPE", s, s.capitalize(), None) for s in ("CLIENT", "SUPPLIER", "PARTNER", "OTHER")),
    *(
        ("COMPANY_TYPE", s, s.capitalize(), None)
        for s in ("CUSTOMER", "SUPPLIER", "COMPETITOR", "PARTNER", "OTHER")
    ),
    *(("HONORIFIC", s, t, None) for s, t in (("HNR_EN_1", "Mr."), ("HNR_EN_2", "Mrs."), ("HNR_EN_3", "Ms."))),
    *(("DYNAMIC_1032_STAGE_12", s, s.partition(":")[2].capitalize(), None) for s, _ in ITEM_STAGES),
)
