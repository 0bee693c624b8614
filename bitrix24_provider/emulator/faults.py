"""Fault injection: one seeded draw per HTTP request decides what goes wrong with it."""

from __future__ import annotations

import random
from enum import Enum

from .config import Faults


class Fault(str, Enum):
    QUERY_LIMIT = "query_limit"
    SERVER_ERROR = "server_error"
    DROP = "drop"
    SLOW = "slow"
    HTML = "html"
    TRUNCATED = "truncated"
    SILENT_EMPTY = "silent_empty"
    SERVER_ERROR_AFTER = "server_error_after"
    DROP_AFTER = "drop_after"
    SLOW_AFTER = "slow_after"


#: Faults that replace the response; checked in this order, at most one per request.
_REPLACING = (Fault.QUERY_LIMIT, Fault.SERVER_ERROR, Fault.DROP, Fault.HTML, Fault.TRUNCATED)
#: Faults that replace the response after the call ran; checked in this order, at most one.
_REPLACING_AFTER = (Fault.SERVER_ERROR_AFTER, Fault.DROP_AFTER)

HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class FaultInjector:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng, self._after_rng = _rngs(faults.seed)
        self._seed = faults.seed

    def draw(self) -> set[Fault]:
        """The faults for one request: at most one replacing fault, plus SLOW and SILENT_EMPTY, plus
        (when no replacing fault struck first) at most one of SERVER_ERROR_AFTER and DROP_AFTER, and
        SLOW_AFTER."""
        if self.faults.seed != self._seed:  # reseeded through /_emulator/config
            self._rng, self._after_rng = _rngs(self.faults.seed)
            self._seed = self.faults.seed
        chosen: set[Fault] = set()
        if not self.faults.any():
            return chosen
        for fault in _REPLACING:
            if self._rng.random() < getattr(self.faults, fault.value):
                chosen.add(fault)
                break
        for fault in (Fault.SLOW, Fault.SILENT_EMPTY):
            if self._rng.random() < getattr(self.faults, fault.value):
                chosen.add(fault)
        if self.faults.any_after():
            drawn = [
                f
                for f in (*_REPLACING_AFTER, Fault.SLOW_AFTER)
                if self._after_rng.random() < getattr(self.faults, f.value)
            ]
            if not chosen.intersection(_REPLACING):  # at most one fault replaces the response
                chosen.update([f for f in drawn if f in _REPLACING_AFTER][:1])
                chosen.update(f for f in drawn if f is Fault.SLOW_AFTER)
        return chosen


def _rngs(seed: int) -> tuple[random.Random, random.Random]:
    """The draws of the faults after the call come from a stream of their own: setting them leaves
    the seeded sequence of the others as it was."""
    return random.Random(seed), random.Random(f"{seed}:after")
