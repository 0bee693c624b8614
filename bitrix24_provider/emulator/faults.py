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


#: Faults that replace the response; checked in this order, at most one per request.
_REPLACING = (Fault.QUERY_LIMIT, Fault.SERVER_ERROR, Fault.DROP, Fault.HTML, Fault.TRUNCATED)

HTML_ERROR_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


class FaultInjector:
    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed)
        self._seed = faults.seed

    def draw(self) -> set[Fault]:
        """The faults for one request: at most one replacing fault, plus SLOW and SILENT_EMPTY."""
        if self.faults.seed != self._seed:  # reseeded through /_emulator/config
            self._rng = random.Random(self.faults.seed)
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
        return chosen
