"""Retrying failed requests: a budget per request, and budgets the whole client shares.

Most transient failures (``QUERY_LIMIT_EXCEEDED``, a 5xx with the portal's error body, a timeout, a
dropped connection) concern one request, which retries them under its own :class:`RetryBudget`
(``ClientSettings.retry``). Two failures concern the portal and would answer every request the
same: nothing listens at its address (:class:`~.errors.PortalUnreachable`), and what answers is not
the portal (:class:`~.errors.UnexpectedAnswer`: an HTML page, a cut body). For each of them a
client keeps one :class:`Outage`, under a small policy of its own (``connect_retry``,
``unexpected_answer_retry``):

* the first such failure opens it; from then on one attempt at a time, of any request, *probes*
  the portal after the policy's backoff, and every other request waits for the probe instead of
  spending attempts of its own;
* an answer of the portal closes it (for :class:`~.errors.PortalUnreachable` any answer at all),
  and the waiting requests go on;
* when the probes have used up the policy's attempts, the client gives up: the probe and every
  request started before fail with the error, which says how many attempts were made over how
  long. Requests started later begin anew.

So many requests sent together to a port where nothing listens make one attempt each of those in
flight when the first failed (at most ``max_concurrent_requests``) plus the policy's retries, not
the policy's attempts each. A request that alone keeps getting such answers while others succeed
gives up after the policy's attempts too.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from .errors import BitrixAPIError, PortalUnreachable, UnexpectedAnswer, is_retryable
from .throttle import Clock

__all__ = ["ClientRetries", "Outage", "RequestRetries", "RetryBudget", "RetryPolicy"]

#: the failures whose attempts a client's requests share
Shared = PortalUnreachable | UnexpectedAnswer


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter.

    The delay before retry ``n`` (0-based) is uniform in ``[0, min(cap, base * multiplier**n))``.
    Each request gets its own :class:`RetryBudget` from :meth:`start`; nothing is shared between
    requests.

    :param max_attempts: attempts in total, the first one included.
    :param base: seconds; scale of the first delay.
    :param cap: seconds; upper bound of any delay.
    :param multiplier: growth per retry.
    """

    max_attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base < 0 or self.cap < 0 or self.multiplier < 1:
            raise ValueError("need max_attempts >= 1, base >= 0, cap >= 0, multiplier >= 1")

    def delay(self, retry: int, draw: float) -> float:
        """Delay before retry number *retry* (0-based) for a uniform *draw* in ``[0, 1)``."""
        ceiling = self.cap if retry > 64 else min(self.cap, self.base * self.multiplier**retry)
        return draw * ceiling

    def start(self, *, rng: Callable[[], float] = random.random) -> RetryBudget:
        """A fresh attempt budget for one request."""
        return RetryBudget(self, rng)


@dataclass
class RetryBudget:
    """The attempts of one request under a :class:`RetryPolicy`.

    Usage::

        budget = policy.start()
        while True:
            try:
                return await send()
            except BitrixError as exc:
                delay = budget.next_delay(exc)
                if delay is None:
                    raise
                await sleep(delay)
    """

    policy: RetryPolicy
    rng: Callable[[], float] = random.random
    failures: int = field(default=0, init=False)

    @property
    def remaining(self) -> int:
        """Attempts still allowed."""
        return max(0, self.policy.max_attempts - self.failures)

    def next_delay(self, error: BaseException, *, at_least: float = 0.0) -> float | None:
        """Record a failed attempt. Returns the delay before the next one, or ``None`` to give up.

        Gives up on non-retryable errors (see :func:`~bitrix24_provider.client.errors.is_retryable`)
        and when the attempts are used up. *at_least* raises the delay (e.g. a known reset time).
        """
        self.failures += 1
        if not is_retryable(error) or self.failures >= self.policy.max_attempts:
            return None
        return max(at_least, self.policy.delay(self.failures - 1, self.rng()))


@dataclass
class Outage:
    """Failures of one kind that all requests of a client share (see the module docstring).

    :param policy: the attempts and backoff of the kind.
    """

    policy: RetryPolicy
    #: failed attempts counted since it opened; 0: closed
    failures: int = 0
    #: when the first of them failed (clock seconds)
    opened_at: float = 0.0
    #: the earliest time of the next probe
    probe_at: float = 0.0

    @property
    def open(self) -> bool:
        return self.failures > 0


class ClientRetries:
    """The retry state of one client: the per-request policy and an :class:`Outage` per shared kind.

    :param retry: the per-request policy of every other retryable failure.
    :param connect: the policy of :class:`~.errors.PortalUnreachable`.
    :param unexpected_answer: the policy of :class:`~.errors.UnexpectedAnswer`.
    :param clock: the time base of the delays.
    """

    def __init__(
        self,
        retry: RetryPolicy,
        connect: RetryPolicy,
        unexpected_answer: RetryPolicy,
        clock: Clock,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.retry = retry
        self.outages: Mapping[type[Shared], Outage] = {
            PortalUnreachable: Outage(connect),
            UnexpectedAnswer: Outage(unexpected_answer),
        }
        self.clock = clock
        self.rng = rng
        #: how many times the client gave up, and the error it gave up with last
        self.given_up = 0
        self.failure: Shared | None = None
        self.probing = False
        self._changed: asyncio.Event | None = None

    def start(self) -> RequestRetries:
        """The retries of one new request."""
        return RequestRetries(self)

    def kind_of(self, error: BaseException) -> type[Shared] | None:
        """The outage kind *error* belongs to, if any."""
        return next((kind for kind in self.outages if isinstance(error, kind)), None)

    def close(self, *kinds: type[Shared]) -> None:
        """The portal answered: the outages of *kinds* (default: all) are over."""
        for kind in kinds or tuple(self.outages):
            self.outages[kind].failures = 0
        self.notify()

    def give_up(self, outage: Outage, error: Shared, now: float) -> Shared:
        """The probes used up *outage*'s attempts: the error every waiting request fails with."""
        self.failure = error.after(outage.failures, now - outage.opened_at)
        self.given_up += 1
        outage.failures = 0
        self.notify()
        return self.failure

    def rebind(self) -> None:
        """Forget a closed event loop's waiters and probe (see :meth:`.Transport.bind`)."""
        self._changed, self.probing = None, False

    def notify(self) -> None:
        """Wake the requests waiting in :meth:`changed`."""
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set()

    async def changed(self, seconds: float | None) -> None:
        """Wait until the outages change, or at most *seconds* (clock seconds) when given."""
        if self._changed is None:
            self._changed = asyncio.Event()
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._changed.wait())]
        if seconds is not None:
            waiters.append(asyncio.ensure_future(self.clock.sleep(seconds)))
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()


class RequestRetries:
    """The retries of one request: its own :class:`RetryBudget` plus the client's outages. Used
    like a :class:`RetryBudget`, with every attempt inside :meth:`attempt`."""

    def __init__(self, shared: ClientRetries) -> None:
        self.shared = shared
        self.budget = shared.retry.start(rng=shared.rng)
        self.born = shared.given_up
        self.gave_up = False
        self._probe = False
        self._own: Counter[type[Shared]] = Counter()  # this request's failures per outage kind
        self._first: dict[type[Shared], float] = {}

    @asynccontextmanager
    async def attempt(self) -> AsyncIterator[None]:
        """Wrap one attempt: wait for the probe of an open outage, and count what came of it.

        Raises the error the client gave up with instead of sending, when it gave up since this
        request started.
        """
        await self._turn()
        try:
            yield
        except PortalUnreachable as error:
            self._failed(PortalUnreachable, error)
            raise
        except UnexpectedAnswer as error:
            self.shared.close(PortalUnreachable)  # something answered
            self._failed(UnexpectedAnswer, error)
            raise
        except BitrixAPIError:
            self.shared.close()
            raise
        else:
            self.shared.close()
        finally:
            if self._probe:
                self._probe = self.shared.probing = False
                self.shared.notify()

    def next_delay(self, error: BaseException) -> float | None:
        """Record a failed attempt: the delay before the next one, or ``None`` to give up."""
        delay = self.budget.next_delay(error)
        if self.gave_up:
            return None
        kind = self.shared.kind_of(error)
        if delay is None or kind is None:
            return delay
        return max(0.0, self.shared.outages[kind].probe_at - self.shared.clock.monotonic())

    async def _turn(self) -> None:
        shared = self.shared
        while True:
            self._raise_if_given_up()
            open_outages = [o for o in shared.outages.values() if o.open]
            if not open_outages:
                return
            wait = max(o.probe_at for o in open_outages) - shared.clock.monotonic()
            if not shared.probing and wait <= 0:
                self._probe = shared.probing = True
                return
            await shared.changed(None if shared.probing else wait)

    def _raise_if_given_up(self) -> None:
        """Fail with the client's error when it gave up since this request started."""
        if self.shared.given_up != self.born and self.shared.failure is not None:
            self.gave_up = True
            raise copy.copy(self.shared.failure) from None

    def _failed(self, kind: type[Shared], error: Shared) -> None:
        """Count a failed attempt; raise the final error when the attempts are used up."""
        self._raise_if_given_up()
        shared = self.shared
        outage = shared.outages[kind]
        now = shared.clock.monotonic()
        self._own[kind] += 1
        self._first.setdefault(kind, now)
        if not outage.open or self._probe:  # not one of the attempts in flight when it opened
            if not outage.open:
                outage.opened_at = now
            outage.failures += 1
            if outage.failures >= outage.policy.max_attempts:
                self.gave_up = True
                raise shared.give_up(outage, error, now) from None
            outage.probe_at = now + outage.policy.delay(outage.failures - 1, shared.rng())
            shared.notify()
        if self._own[kind] >= outage.policy.max_attempts:
            self.gave_up = True
            raise error.after(self._own[kind], now - self._first[kind]) from None
