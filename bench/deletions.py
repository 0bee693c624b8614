"""What reconciling deletions costs: the key-only keyset scan of ``LoadSpec.deletions``.

    .venv/bin/python -m bench.deletions --deals 100000 1000000 --time-scale 20

Each size gets a fresh emulator subprocess with the default cost model, bucket (standard plan: 50
requests, drained at 2/s) and operating window, fast-forwarded by ``--time-scale``; the engine's own
:func:`~bitrix24_provider.sync.deletions.scan_keys` lists every ``ID`` of ``crm.deal.list``. Reported:
HTTP requests and ``batch`` commands, real and portal seconds, and the bucket share: requests over
what the bucket drains in an hour (7,200 on the standard plan), i.e. the share of an hourly sync's
request budget one reconciliation takes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bitrix24_provider.client import Bitrix
from bitrix24_provider.client.settings import ClientSettings
from bitrix24_provider.sync.deletions import scan_keys
from bitrix24_provider.sync.spec import LoadSpec

from .harness import Emulator, machine

#: requests the standard plan's bucket drains per hour (2 per second)
HOURLY_REQUESTS = 7200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.deletions", description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--time-scale", type=float, default=20.0, help="portal seconds per real second")
    args = parser.parse_args(argv)
    print(f"# .venv/bin/python -m bench.deletions {' '.join(argv or sys.argv[1:])}")
    print(f"# machine: {json.dumps(machine())}", flush=True)
    spec = LoadSpec(
        "crm.deal.list",
        write_disposition="merge",
        primary_key=("ID",),
        deletions="soft",
        column_types="values",
    )
    rows = []
    for deals in args.deals:
        with Emulator(deals, time_scale=args.time_scale) as emulator:
            before = emulator.stats()
            started = time.monotonic()
            with Bitrix(emulator.webhook, settings=ClientSettings(time_scale=args.time_scale)) as client:
                keys = scan_keys(client, spec)
                requests = int(client.stats.http_requests)
            real = time.monotonic() - started
            after = emulator.stats()
            complete = sorted(keys) == emulator.expected_ids()
        portal = float(after["portal_time"]) - float(before["portal_time"])
        commands = sum(after.get("commands_by_method", {}).values())
        rows.append((deals, requests, commands, real, portal, complete, after.get("http_by_status", {})))
        print(f"  {deals}: {requests} requests, {real:.1f} s real, {portal:.0f} s portal", flush=True)
    print("\n| deals | HTTP | cmds | real s | portal s | share of an hour's bucket | complete | statuses |")
    print("|---:|---:|---:|---:|---:|---:|---|---|")
    for deals, requests, commands, real, portal, complete, statuses in rows:
        share = requests / HOURLY_REQUESTS
        print(
            f"| {deals} | {requests} | {commands} | {real:.1f} | {portal:.0f} | {share:.1%} | {complete} "
            f"| {json.dumps(statuses)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
