"""Every tunable of the client in one place, with the portal's documented defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from .decoding import DECODERS, DecoderName
from .retry import RetryPolicy
from .throttle import PLAN_LIMITS

#: requests in flight when ``max_concurrent_requests`` is None (a keyset export's chains add theirs)
REQUESTS_IN_FLIGHT = 16


@dataclass
class ClientSettings:
    """:param plan: ``standard`` (bucket 50, 2/s) or ``enterprise`` (250, 5/s).
    :param request_pool_size: bucket size X; overrides the plan's.
    :param requests_per_second: drain rate Y; overrides the plan's.
    :param headroom: bucket slots never used, for latency jitter and other clients.
    :param operating_time_limit: seconds of server time per method per ``operating_window``.
    :param respect_velocity_policy: pause a method before the portal blocks it (fast_bitrix24's name).
    :param batch_size: commands per ``batch`` call (at most 50).
    :param max_concurrent_requests: HTTP requests in flight at once; ``None`` (default): 16, and as
        many as a keyset export's chains while it runs (:mod:`.concurrency`).
    :param max_parallel_chains: at most this many keyset chains over disjoint ID ranges at once in
        one export; ``None`` (default): as many as the bucket takes at once, each with at least half a
        batch of pages, within the operating budget (:mod:`.concurrency`).
    :param max_rows_in_flight: bounds an export's memory: an export of more rows runs at most as many
        chains as hold this many rows with two batches each (a chain's batch in flight and the one it
        hands over); ``None``: no bound. The default, 125,000 rows, is 25 chains of 50-page batches
        (~250 MB of full deal rows); a smaller export is never limited by it (it cannot hold more
        rows than it has), and a larger one is limited by the bucket's drain long before this.
    :param request_timeout: real seconds one HTTP request may take (the portal stops at 60 s).
    :param portal_request_cap: portal seconds after which the portal has stopped any request
        (contract §6.3); ``call(..., external_key=...)`` looks up adds with an unknown outcome only
        once this has passed since they were sent.
    :param retry: backoff for transient failures, per request.
    :param connect_retry: attempts and backoff when nothing answers at the portal's address
        (:class:`~.errors.PortalUnreachable`), shared by all requests of the client (:mod:`.retry`).
    :param unexpected_answer_retry: the same for answers that are not the portal's JSON (an HTML
        page, a cut body: :class:`~.errors.UnexpectedAnswer`).
    :param operating_retries: how many times one command may be resumed after an operating block.
    :param time_scale: portal seconds per real second; set it to the emulator's ``time_scale`` so the
        throttle's clock runs as fast as the portal's.
    :param shared_throttle: where the request bucket and the operating pauses are shared with the
        other clients of the portal (other Airflow tasks, processes). ``None`` (default): with every
        client on this machine, through lock files (``$BITRIX24_THROTTLE_DIR``, else
        ``$AIRFLOW_HOME/bitrix24_throttle``, else a private directory under the temp directory);
        ``file:///<directory>``: lock files there; a Redis URL (``redis://[:password@]host:6379/0``):
        with every client using that Redis and prefix, on any machine; ``"none"``: kept in this
        client alone. See :mod:`.throttle`.
    :param shared_throttle_prefix: first part of the shared throttle's keys.
    :param json_decoder: the parser of answer bodies: ``orjson`` (less CPU, ~40 % more memory per row;
        it hands every body it would read differently to ``json``, see :mod:`.decoding`) or ``json``
        (the standard library).
    """

    plan: str = "standard"
    request_pool_size: float | None = None
    requests_per_second: float | None = None
    headroom: float = 1.0
    operating_time_limit: float = 480.0
    operating_window: float = 600.0
    respect_velocity_policy: bool = True
    batch_size: int = 50
    max_concurrent_requests: int | None = None
    max_parallel_chains: int | None = None
    max_rows_in_flight: int | None = 125_000
    request_timeout: float = 90.0
    portal_request_cap: float = 60.0
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=8, base=0.5, cap=20.0))
    connect_retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=3, base=0.5, cap=1.0))
    unexpected_answer_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=5, base=0.5, cap=4.0)
    )
    operating_retries: int = 5
    time_scale: float = 1.0
    shared_throttle: str | None = field(default=None, repr=False)
    shared_throttle_prefix: str = "bitrix24"
    json_decoder: DecoderName = "orjson"

    def __post_init__(self) -> None:
        if self.plan not in PLAN_LIMITS:
            raise ValueError(f"plan must be one of {sorted(PLAN_LIMITS)}, got {self.plan!r}")
        if not 1 <= self.batch_size <= 50:
            raise ValueError(f"batch_size must be between 1 and 50, got {self.batch_size!r}")
        for name in ("max_concurrent_requests", "max_parallel_chains", "max_rows_in_flight"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"{name} must be None or an int of at least 1, got {value!r}")
        if self.time_scale <= 0:
            raise ValueError(f"time_scale must be positive, got {self.time_scale!r}")
        if not self.shared_throttle_prefix:
            raise ValueError("shared_throttle_prefix must not be empty")
        if self.json_decoder not in DECODERS:
            raise ValueError(f"json_decoder must be one of {sorted(DECODERS)}, got {self.json_decoder!r}")

    def bucket(self) -> tuple[float, float]:
        size, rate = PLAN_LIMITS[self.plan]
        return (self.request_pool_size or size, self.requests_per_second or rate)

    def requests_in_flight(self) -> int:
        """``max_concurrent_requests``, or 16 when it is ``None``."""
        return REQUESTS_IN_FLIGHT if self.max_concurrent_requests is None else self.max_concurrent_requests
