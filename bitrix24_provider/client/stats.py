"""Counters of what a client did: HTTP requests, commands, rows, retries by cause, server time per
method, time spent waiting on the throttle and CPU time spent decoding answers."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Stats:
    http_requests: int = 0
    http_by_status: Counter[int] = field(default_factory=Counter)
    commands: int = 0
    rows: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    server_time: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    bucket_wait_seconds: float = 0.0
    operating_wait_seconds: float = 0.0
    token_refreshes: int = 0
    chains: int = 0  # keyset chains started (a split adds one)
    chain_splits: int = 0  # chains cut in two while the export ran (:mod:`.keyset`)
    #: answer bodies by the parser that decoded them ("orjson", "json"; "invalid": not JSON)
    json_bodies: Counter[str] = field(default_factory=Counter)
    json_bytes: int = 0
    json_cpu_seconds: float = 0.0  # CPU time of the decoding thread, not wall time

    def as_dict(self) -> dict[str, Any]:
        return {
            "http_requests": self.http_requests,
            "http_by_status": {str(k): v for k, v in self.http_by_status.items()},
            "commands": self.commands,
            "rows": self.rows,
            "retries": dict(self.retries),
            "server_time": {k: round(v, 6) for k, v in self.server_time.items()},
            "bucket_wait_seconds": round(self.bucket_wait_seconds, 6),
            "operating_wait_seconds": round(self.operating_wait_seconds, 6),
            "token_refreshes": self.token_refreshes,
            "chains": self.chains,
            "chain_splits": self.chain_splits,
            "json_bodies": dict(self.json_bodies),
            "json_bytes": self.json_bytes,
            "json_cpu_seconds": round(self.json_cpu_seconds, 6),
        }
