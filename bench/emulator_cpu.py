"""The emulator's own CPU per row served: a full-row keyset export against ``--no-cost``.

    python -m bench.emulator_cpu --deals 100000
    python -m bench.emulator_cpu --deals 100000 --mode direct
    python -m bench.emulator_cpu --deals 1000000 --rows 1000000

Starts ``python -m bitrix24_provider.emulator --no-cost`` in a subprocess and exports deals with
``crm.deal.list`` (no ``select``: every field incl. ``UF_*``), ``order[ID]=ASC``, ``start=-1``:

* ``batch`` (default): batches of 50 chained commands, ``filter[>ID]`` of each command is
  ``$result[c<i-1>][49][ID]`` (the first one the last ID of the previous batch);
* ``direct``: one page per request, ``filter[>ID]`` = the last ID of the previous page.

Requests are written by hand (form bodies as PHP ``parse_str`` reads them) and sent one at a time
over one keep-alive connection, so the number is the emulator's alone. Prints the emulator's CPU
seconds (user + system, read with psutil, start-up excluded) per 100k rows, the rows served and its
peak RSS (``VmHWM``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import psutil

from .harness import Emulator

METHOD = "crm.deal.list"
PAGE = 50
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _page_query(cursor: int | str) -> str:
    return urlencode({"order[ID]": "ASC", "filter[>ID]": cursor, "start": -1})


class Webhook:
    """POSTs to one webhook over a single keep-alive connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.path = parts.path
        self.connection = http.client.HTTPConnection(parts.netloc, timeout=300)

    def post(self, method: str, body: str) -> Any:
        self.connection.request("POST", self.path + method, body.encode(), FORM)
        response = self.connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method}: HTTP {response.status}: {data[:300]!r}")
        return json.loads(data)


def _check(rows: list[dict[str, Any]], last: int) -> int:
    """IDs must grow strictly; returns the last one."""
    for row in rows:
        rid = int(row["ID"])
        if rid <= last:
            raise AssertionError(f"ID {rid} after {last}")
        last = rid
    return last


def export_batches(webhook: Webhook, limit: int) -> tuple[int, int]:
    """(rows, HTTP requests)."""
    rows = requests = 0
    last = 0
    while rows < limit:
        cmd = {"halt": 0, "cmd[c0]": f"{METHOD}?{_page_query(last)}"}
        for i in range(1, PAGE):
            cmd[f"cmd[c{i}]"] = f"{METHOD}?{_page_query(f'$result[c{i - 1}][{PAGE - 1}][ID]')}"
        reply = webhook.post("batch", urlencode(cmd))
        requests += 1
        results = reply["result"]["result"]
        pages = results.values() if isinstance(results, dict) else results
        got = 0
        for page in pages:
            last = _check(page, last)
            got += len(page)
        rows += got
        if got < PAGE * PAGE:
            break
    return rows, requests


def export_direct(webhook: Webhook, limit: int) -> tuple[int, int]:
    rows = requests = 0
    last = 0
    while rows < limit:
        page = webhook.post(METHOD, _page_query(last))["result"]
        requests += 1
        last = _check(page, last)
        rows += len(page)
        if len(page) < PAGE:
            break
    return rows, requests


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.emulator_cpu", description=__doc__)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=0, help="stop after this many rows (0: all deals)")
    parser.add_argument("--mode", choices=["batch", "direct"], default="batch")
    parser.add_argument("--time-scale", type=float, default=1000.0, help="portal seconds per real second")
    args = parser.parse_args(argv)
    limit = args.rows or args.deals
    # the bucket and the operating window still apply without cost: a fast portal clock drains them
    with Emulator(args.deals, cost=False, time_scale=args.time_scale) as emulator:
        assert emulator.proc is not None
        ps = psutil.Process(emulator.proc.pid)
        startup_cpu, startup_rss = emulator.cpu_seconds(), ps.memory_info().rss / 2**20
        started = time.perf_counter()
        export = export_batches if args.mode == "batch" else export_direct
        rows, requests = export(Webhook(emulator.webhook), limit)
        wall = time.perf_counter() - started
        cpu = emulator.cpu_seconds() - startup_cpu
        served = emulator.stats()["rows_served"]
        peak = peak_rss_mb(emulator.proc.pid)
    result = {
        "mode": args.mode,
        "deals": args.deals,
        "rows": rows,
        "rows_served": served,
        "http_requests": requests,
        "emulator_cpu_s": round(cpu, 3),
        "emulator_cpu_s_per_100k_rows": round(cpu * 100_000 / max(rows, 1), 3),
        "us_per_row": round(cpu * 1e6 / max(rows, 1), 2),
        "wall_s": round(wall, 3),
        "startup_cpu_s": round(startup_cpu, 3),
        "startup_rss_mb": round(startup_rss, 1),
        "peak_rss_mb": round(peak, 1),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
