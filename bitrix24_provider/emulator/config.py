"""Everything that shapes the emulated portal, with documented defaults.

All durations are portal seconds (see :mod:`.clock`); ``time_scale`` fast-forwards all of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from .references import SHORT_PAGE_READINGS, ShortPageReference

Plan = Literal["standard", "enterprise"]
BatchBilling = Literal["per_method", "batch"]

#: Leaky bucket per plan: (bucket size X, drain per second Y). Contract §6.1.
PLAN_LIMITS: dict[str, tuple[float, float]] = {"standard": (50.0, 2.0), "enterprise": (250.0, 5.0)}


@dataclass
class CostModel:
    """Server time spent by one command, in portal seconds.

    ``base + per_row*returned + per_skipped_row*offset + per_counted_row*matching (when total is
    computed) + per_write`` for writes. The defaults follow the contract's §8: a CRM list page costs
    10-50 ms, a count over millions of rows costs tens of seconds, tasks pages are ~1 s, and a batch
    adds 20-120 ms of overhead on top of its sub-commands, which run one after another.
    """

    base: float = 0.012
    per_row: float = 0.0004
    per_skipped_row: float = 0.00001
    per_counted_row: float = 0.00002
    per_write: float = 0.08
    batch_overhead: float = 0.03
    #: Server time of every HTTP request on top of its commands (direct or batch).
    per_request: float = 0.0
    #: Extra base cost per method family (tasks are slow on real portals).
    family_base: dict[str, float] = field(default_factory=lambda: {"task": 0.6})


@dataclass
class Faults:
    """Fault injection; each probability applies per HTTP request (``silent_empty`` per batch).

    ``query_limit``, ``server_error``, ``drop``, ``slow`` and ``html`` strike before the call runs;
    ``truncated`` and the ``*_after`` faults after it ran (its writes are done): the ambiguous cases a
    client cannot tell from the first ones.
    """

    query_limit: float = 0.0  # random 503 QUERY_LIMIT_EXCEEDED
    server_error: float = 0.0  # 500 INTERNAL_SERVER_ERROR
    drop: float = 0.0  # connection closed without a response
    slow: float = 0.0  # response delayed by ``slow_seconds`` (real seconds)
    slow_seconds: float = 2.0
    html: float = 0.0  # an HTML error page with status 200
    truncated: float = 0.0  # a JSON body cut in the middle
    silent_empty: float = 0.0  # list sub-results of a batch come back empty, no error
    drop_after: float = 0.0  # the call runs, then the connection is closed without a response
    server_error_after: float = 0.0  # the call runs, then 500 INTERNAL_SERVER_ERROR
    slow_after: float = 0.0  # the call runs, then the response waits ``slow_seconds``
    seed: int = 0
    #: the REST methods (``batch`` for batches) whose requests faults strike; empty: every request
    methods: list[str] = field(default_factory=list)

    def any(self) -> bool:
        return any(
            getattr(self, f.name) > 0
            for f in fields(self)
            if f.name not in ("seed", "slow_seconds", "methods")
        )

    def strike(self, method: str) -> bool:
        """Whether faults may strike a request of *method*."""
        return not self.methods or method.lower() in {m.lower() for m in self.methods}

    def any_after(self) -> bool:
        return self.drop_after > 0 or self.server_error_after > 0 or self.slow_after > 0


@dataclass
class EmulatorConfig:
    plan: Plan = "standard"
    #: Override the plan's bucket size / drain rate.
    bucket_size: float | None = None
    drain_rate: float | None = None
    operating_limit: float = 480.0
    operating_window: float = 600.0
    operating_baskets: int = 10
    operating_min_fix: float = 0.1
    request_timeout: float = 60.0
    token_lifetime: float = 3600.0
    time_scale: float = 1.0
    batch_billing: BatchBilling = "per_method"
    #: Whether responses really wait for their server cost (off only for quick functional tests).
    simulate_cost: bool = True
    #: What a CRM filter does with ``$result[c][49][ID]`` after a short page ``c`` (the reference
    #: resolves to the whole list, contract §5.5; unconfirmed on a live portal): ``no_rows`` (no row
    #: meets the condition) or ``from_lowest_id`` (the condition is dropped: rows from the lowest id on).
    short_page_reference: ShortPageReference = "no_rows"
    #: Network round trip added to every answer (portal seconds, fast-forwarded by ``time_scale``):
    #: the answer waits this long after its server time, which the ``time`` block does not count.
    round_trip: float = 0.0
    utc_offset: str = "+03:00"

    # credentials
    user_id: int = 1
    webhook_code: str = "emulatorwebhook0"
    client_id: str = "local.emulator0000000000.00000000"
    client_secret: str = "emulatorclientsecret0000000000000000000000000000"
    refresh_token: str = "emulatorrefresh00000000000000000"

    # data
    seed: int = 42
    deals: int = 1000
    leads: int = 500
    contacts: int = 500
    companies: int = 200
    items: int = 300  # crm.item rows for the smart-process entityTypeId 1032 (deal/lead/... items are views)
    tasks: int = 200
    users: int = 25
    departments: int = 7
    list_elements: int = 60  # lists.element.get of the universal list IBLOCK_ID 47
    storages: int = 3  # disk.storage.getlist: the shared documents and user drives
    disk_objects: int = 40  # disk.folder.getchildren of the shared documents' root folder (id 1)
    products: int = 60  # catalog.product.list of the catalog iblockId 23

    #: Methods that refuse an id cursor (``>ID``/``>id`` with ``start=-1``) with 400
    #: INVALID_ARG_VALUE, like list methods whose filter does not accept the id field.
    no_keyset_methods: list[str] = field(default_factory=list)
    #: Methods that always fail with 500 INTERNAL_SERVER_ERROR (direct calls and batch commands),
    #: like a method broken on the portal: a client retries it and gives up.
    failing_methods: list[str] = field(default_factory=list)

    #: the OAuth application's user is an administrator (offline events need one)
    app_admin: bool = True
    #: the plan has ``rest_offline_extended`` (``event.offline.get`` with ``clear=0``)
    offline_extended: bool = True

    costs: CostModel = field(default_factory=CostModel)
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        _check_reading(self.short_page_reference)

    def bucket(self) -> tuple[float, float]:
        size, rate = PLAN_LIMITS[self.plan]
        return (self.bucket_size or size, self.drain_rate or rate)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for secret in ("webhook_code", "client_secret", "refresh_token"):
            data[secret] = "***"
        return data

    def update(self, changes: dict[str, Any]) -> None:
        """Apply runtime changes (``/_emulator/config``); nested ``costs``/``faults`` merge."""
        known = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise ValueError(f"unknown emulator setting {key!r}")
            if key in ("costs", "faults"):
                target = getattr(self, key)
                sub_known = {f.name for f in fields(target)}
                if not isinstance(value, dict):
                    raise ValueError(f"{key} must be an object")
                for sub_key, sub_value in value.items():
                    if sub_key not in sub_known:
                        raise ValueError(f"unknown emulator setting {key}.{sub_key}")
                    setattr(target, sub_key, sub_value)
            else:
                if key == "short_page_reference":
                    _check_reading(value)
                setattr(self, key, value)


def _check_reading(value: Any) -> None:
    if value not in SHORT_PAGE_READINGS:
        raise ValueError(f"short_page_reference must be one of {list(SHORT_PAGE_READINGS)}, got {value!r}")
