"""Portal profiles: the cost models and network paths the benchmark runs the emulator with.

* ``fast``: the emulator's own cost model (:class:`~bitrix24_provider.emulator.config.CostModel`:
  a page of 50 full rows ~32 ms, 30 ms per batch);
* ``slow``: each command 30 ms plus 1 ms per row of server time and 100 ms per HTTP request (well
  within what real portals report in ``time.duration``);
* ``far``: ``fast`` plus a 150 ms network round trip per request (the answer waits it; the portal's
  ``time`` block does not count it).

All are portal seconds, fast-forwarded by the emulator's ``--time-scale`` like every other cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bitrix24_provider.emulator.config import CostModel, EmulatorConfig

#: ``--pin``: the emulator on core 0, the client on core 1 (``taskset -c``)
PIN = ("0", "1")


@dataclass(frozen=True)
class Profile:
    name: str
    costs: dict[str, float] = field(default_factory=dict)  # changes to the emulator's CostModel
    round_trip: float = 0.0  # portal seconds added to every answer

    def describe(self) -> str:
        parts = [f"{k}={v:g}" for k, v in self.costs.items()]
        if self.round_trip:
            parts.append(f"round_trip={self.round_trip:g}")
        return f"{self.name} ({', '.join(parts) or 'the emulator defaults'})"


PROFILES: dict[str, Profile] = {
    "fast": Profile("fast"),
    "slow": Profile("slow", {"base": 0.03, "per_row": 0.001, "batch_overhead": 0.0, "per_request": 0.1}),
    "far": Profile("far", round_trip=0.15),
}


def profile_config(profile: Profile, deals: int, time_scale: float, billing: str) -> EmulatorConfig:
    """The emulator's configuration under ``profile`` (for the portal bound)."""
    return EmulatorConfig(
        deals=deals,
        time_scale=time_scale,
        batch_billing=billing,  # type: ignore[arg-type]
        costs=CostModel(**profile.costs),  # type: ignore[arg-type]
        round_trip=profile.round_trip,
    )
