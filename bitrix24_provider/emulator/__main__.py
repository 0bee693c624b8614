"""``python -m bitrix24_provider.emulator --port 8765 --deals 100000`` prints ``READY <webhook-url>``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence

from .config import CostModel, EmulatorConfig, Faults
from .references import SHORT_PAGE_READINGS
from .runner import Emulator

_ENTITIES = (
    "deals", "leads", "contacts", "companies", "items", "tasks", "users",
    "departments", "list_elements", "storages", "disk_objects", "products",
)  # fmt: skip
_FAULTS = {
    "fault_503": "query_limit",
    "fault_500": "server_error",
    "fault_drop": "drop",
    "fault_slow": "slow",
    "fault_html": "html",
    "fault_truncated": "truncated",
    "fault_silent_empty": "silent_empty",
    "fault_500_after": "server_error_after",
    "fault_drop_after": "drop_after",
    "fault_slow_after": "slow_after",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bitrix24_provider.emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0 picks a free one)")
    defaults = EmulatorConfig()
    for entity in _ENTITIES:
        parser.add_argument(
            f"--{entity.replace('_', '-')}", type=int, default=getattr(defaults, entity), metavar="N"
        )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--plan", choices=["standard", "enterprise"], default="standard")
    parser.add_argument("--time-scale", type=float, default=1.0, help="portal seconds per real second")
    parser.add_argument("--operating-limit", type=float, default=defaults.operating_limit)
    parser.add_argument("--token-lifetime", type=float, default=defaults.token_lifetime)
    parser.add_argument("--batch-billing", choices=["per_method", "batch"], default="per_method")
    parser.add_argument("--no-cost", action="store_true", help="answer at once instead of taking server time")
    parser.add_argument(
        "--costs",
        type=json.loads,
        default={},
        metavar="JSON",
        help='cost model changes, e.g. \'{"base": 0.03, "per_row": 0.001, "per_request": 0.1}\' (portal s)',
    )
    parser.add_argument(
        "--round-trip", type=float, default=0.0, metavar="S", help="network round trip per answer (portal s)"
    )
    parser.add_argument(
        "--short-page-reference",
        choices=list(SHORT_PAGE_READINGS),
        default=defaults.short_page_reference,
        help="what a CRM filter does with $result[c][49][ID] after a short page c: no row meets it "
        "(no_rows) or the condition is dropped (from_lowest_id)",
    )
    parser.add_argument("--webhook-code", default=defaults.webhook_code)
    for flag in _FAULTS:
        parser.add_argument(f"--{flag.replace('_', '-')}", type=float, default=0.0, metavar="P")
    parser.add_argument("--slow-seconds", type=float, default=2.0)
    parser.add_argument("--fault-seed", type=int, default=0)
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    faults = Faults(slow_seconds=args.slow_seconds, seed=args.fault_seed)
    for flag, name in _FAULTS.items():
        setattr(faults, name, getattr(args, flag))
    return EmulatorConfig(
        plan=args.plan,
        time_scale=args.time_scale,
        operating_limit=args.operating_limit,
        token_lifetime=args.token_lifetime,
        batch_billing=args.batch_billing,
        simulate_cost=not args.no_cost,
        short_page_reference=args.short_page_reference,
        round_trip=args.round_trip,
        costs=CostModel(**args.costs),
        webhook_code=args.webhook_code,
        seed=args.seed,
        faults=faults,
        **{entity: getattr(args, entity) for entity in _ENTITIES},
    )


async def serve(config: EmulatorConfig, port: int) -> None:
    async with Emulator(config, port) as emulator:
        print(f"READY {emulator.webhook_url}", flush=True)
        await asyncio.Event().wait()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config_from_args(args), args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
