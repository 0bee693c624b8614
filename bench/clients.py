"""One client's export of ``crm.deal.list``, run in a process of its own.

``bench.run`` and ``bench.memory`` start this module as a subprocess per client run, so that the peak RSS
and CPU time it reports belong to that client alone::

    python -m bench.clients ours --webhook http://127.0.0.1:PORT/rest/1/CODE/ --time-scale 20 --out r.json
    python -m bench.clients "ours:max_parallel_chains=4,max_concurrent_requests=4" ...
    python -m bench.clients ours:json_decoder=json ...      # the standard library's parser instead of orjson
    python -m bench.clients floor:concurrency=2 ...

Every client exports the same thing: ``crm.deal.list`` with the default select (no ``select`` at all, so
the full rows, 53 fields each on the emulator). Rows are consumed as a stream where the library allows
it (ours ``iter_all``, b24pysdk's generator, naive and floor page by page) and only their IDs are kept,
in a bitmap; fast_bitrix24 has no streaming API, so its ``get_all`` list is held whole (as its users
must), and ``ours_list`` does the same with our ``get_all`` for comparison.

Clocks are scaled by ``--time-scale`` (portal seconds per real second) for every client:

* ours: ``BitrixAsync(time_scale=...)``;
* fast_bitrix24: its constructor only takes the bucket's X and Y, while its 600 s operating window and
  its backoff sleeps are module constants on the real clock. Instead of scaling Y alone, its two clock
  entry points (``time.monotonic`` in ``fast_bitrix24.throttle`` and ``asyncio.sleep`` in
  ``throttle``/``srh``) are replaced by scaled ones, which scales X/Y, the window and the backoff alike
  without changing any of its logic;
* b24pysdk: it has no throttle; its 503 retry delays are scaled through its ``Client`` arguments. Its
  URLs are hard-wired to ``https://``; the one-line patch below makes them ``http://`` (nothing else);
* naive: sleeps 0.5 portal seconds between pages (the portal's 2 requests/s);
* floor: no throttle at all (run against an emulator started with ``--no-cost``).

The result is one JSON object written to ``--out``.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import base64
import gc
import json
import math
import resource
import time
import traceback
import urllib.request
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

METHOD = "crm.deal.list"
PAGE = 50

Extra = dict[str, Any]
Export = Callable[["IdBitmap"], Extra]


class IdBitmap:
    """The IDs received, one bit each (constant-size next to the rows), plus duplicates."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.rows = 0
        self.dupes = 0

    def add(self, value: Any) -> None:
        rid = int(value)
        byte, mask = rid >> 3, 1 << (rid & 7)
        if byte >= len(self.bits):
            self.bits.extend(bytes(byte - len(self.bits) + 1 + 65536))
        self.rows += 1
        if self.bits[byte] & mask:
            self.dupes += 1
        else:
            self.bits[byte] |= mask

    def add_rows(self, rows: Any, key: str = "ID") -> None:
        for row in rows:
            self.add(row[key])

    def encode(self) -> str:
        return base64.b64encode(zlib.compress(bytes(self.bits), 6)).decode("ascii")


def decode_bitmap(text: str) -> bytes:
    return zlib.decompress(base64.b64decode(text)) if text else b""


@dataclass
class Spec:
    """``name`` or ``name:key=value,key=value`` (values are Python literals, else strings)."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Spec:
        name, _, rest = text.partition(":")
        options: dict[str, Any] = {}
        for part in filter(None, rest.split(",")):
            key, _, raw = part.partition("=")
            try:
                options[key.strip()] = ast.literal_eval(raw.strip())
            except (ValueError, SyntaxError):
                options[key.strip()] = raw.strip()
        return cls(name, options)


@dataclass
class Target:
    webhook: str
    time_scale: float

    @property
    def base(self) -> str:
        return self.webhook.split("/rest/")[0]

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=60) as response:
            return json.loads(response.read())


# -- ours -------------------------------------------------------------------------------------


def load_ours(spec: Spec, target: Target, keep_rows: bool = False) -> Export:
    from bitrix24_provider.client import BitrixAsync
    from bitrix24_provider.client.settings import ClientSettings

    settings = ClientSettings(**spec.options) if spec.options else None

    async def export(ids: IdBitmap) -> Extra:
        async with BitrixAsync(
            target.webhook, verbose=False, time_scale=target.time_scale, settings=settings
        ) as bx:
            if keep_rows:
                rows = await bx.get_all(METHOD)
                ids.add_rows(rows)
            else:
                async for page in bx.iter_all(METHOD):
                    ids.add_rows(page)
            settings_used = {k: str(v) for k, v in spec.options.items()}
            return {"client_stats": bx.stats.as_dict(), "settings": settings_used}

    return lambda ids: asyncio.run(export(ids))


def load_ours_list(spec: Spec, target: Target) -> Export:
    return load_ours(spec, target, keep_rows=True)


# -- fast_bitrix24 ----------------------------------------------------------------------------


def scale_fast_bitrix24_clock(time_scale: float) -> None:
    """Run fast_bitrix24's throttle and backoff on a clock ``time_scale`` times faster."""
    import fast_bitrix24.srh as srh
    import fast_bitrix24.throttle as throttle

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / time_scale)

    throttle.time = SimpleNamespace(monotonic=lambda: time.monotonic() * time_scale)  # type: ignore[assignment]
    throttle.asyncio = SimpleNamespace(sleep=sleep)  # type: ignore[assignment]
    srh.sleep = sleep  # type: ignore[assignment]


def load_fast_bitrix24(spec: Spec, target: Target) -> Export:
    import fast_bitrix24

    if spec.options.get("scale_clock", True):
        scale_fast_bitrix24_clock(target.time_scale)
    kwargs = {k: v for k, v in spec.options.items() if k != "scale_clock"}

    async def export(ids: IdBitmap) -> Extra:
        bx = fast_bitrix24.BitrixAsync(target.webhook, verbose=False, **kwargs)
        rows = await bx.get_all(METHOD)
        if not isinstance(rows, list):
            raise TypeError(f"get_all returned {type(rows).__name__}: {str(rows)[:300]}")
        ids.add_rows(rows)
        return {"version": metadata.version("fast-bitrix24")}

    return lambda ids: asyncio.run(export(ids))


# -- b24pysdk ---------------------------------------------------------------------------------


def load_b24pysdk(spec: Spec, target: Target) -> Export:
    import importlib

    from b24pysdk import BitrixWebhook, Client

    # b24pysdk builds every URL as f"https://{domain}/rest" and has no option for http: patch that one
    # property (the only change) so that it can talk to the local emulator.
    caller = importlib.import_module("b24pysdk.api.callers.call_method")
    caller._MethodCaller._base_url = property(lambda self: f"http://{self._domain}/rest")
    parts = urlsplit(target.webhook)
    _, user, code = parts.path.strip("/").split("/")[:3]
    delay = 1.0 / target.time_scale  # its 503 retry delays: 1 s, then +1 s per retry
    client = Client(
        BitrixWebhook(domain=parts.netloc, webhook_token=f"{user}/{code}"),
        initial_retry_delay=delay,
        retry_delay_increment=delay,
        **spec.options,
    )

    def export(ids: IdBitmap) -> Extra:
        response = client.crm.deal.list().as_list_fast()
        ids.add_rows(response.result)
        return {"version": metadata.version("b24pysdk"), "patched": "_MethodCaller._base_url -> http://"}

    return export


# -- naive ------------------------------------------------------------------------------------


def load_naive(spec: Spec, target: Target) -> Export:
    """One keyset page per HTTP request, as in the official "large data" example: order by ID,
    ``filter[>ID]`` = the last ID seen, ``start=-1``, stop on a short page; 0.5 portal s between pages.
    A 503 is retried after 1 portal s (at most 30 times); anything else ends the export."""
    import requests

    pause = float(spec.options.get("pause", 0.5)) / target.time_scale
    url = f"{target.webhook.rstrip('/')}/{METHOD}.json"

    def export(ids: IdBitmap) -> Extra:
        retries = 0
        pages = 0
        last = 0
        deadline = time.monotonic() + 3600
        with requests.Session() as session:
            while time.monotonic() < deadline:
                body = {"order": {"ID": "ASC"}, "filter": {">ID": last}, "start": -1}
                response = session.post(url, json=body, timeout=120)
                if response.status_code == 503 and retries < 30:
                    retries += 1
                    time.sleep(1.0 / target.time_scale)
                    continue
                if response.status_code != 200:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
                rows = response.json()["result"]
                pages += 1
                ids.add_rows(rows)
                if len(rows) < PAGE:
                    return {"pages": pages, "retries_503": retries}
                last = int(rows[-1]["ID"])
                time.sleep(pause)
        raise TimeoutError("naive export did not finish within an hour")

    return export


# -- floor ------------------------------------------------------------------------------------


def load_floor(spec: Spec, target: Target) -> Export:
    """Only download and ``json.loads`` the keyset pages of an export: one probe page, then batches of
    50 chained pages over ID ranges of 2,500 rows (exact boundaries taken from ``/_emulator/ids``),
    ``concurrency`` batches in flight. Bodies are built with our encoder, so the server parses the same
    command strings as for our client. No throttle, no validation: for an emulator without cost."""
    import aiohttp

    from bitrix24_provider.client.encoding import batch_command, batch_params, to_form

    concurrency = int(spec.options.get("concurrency", 2))
    expected: list[int] = target.get_json("/_emulator/ids/deal")["ids"]
    first = expected[:PAGE]
    rest = expected[PAGE:]
    span = PAGE * 50
    bodies: list[tuple[bytes, int]] = []
    for start in range(0, len(rest), span):
        chunk = rest[start : start + span]
        lo = first[-1] if start == 0 else rest[start - 1]
        hi = chunk[-1]
        commands: dict[str, str] = {}
        for i in range(math.ceil(len(chunk) / PAGE)):
            cursor: int | str = lo if i == 0 else f"$result[c{i - 1}][49][ID]"
            params = {"order": {"ID": "ASC"}, "filter": {">ID": cursor, "<=ID": hi}, "start": -1}
            commands[f"c{i}"] = batch_command(METHOD, params)
        bodies.append((to_form(batch_params(commands)), len(chunk)))
    probe = to_form({"order": {"ID": "ASC"}, "filter": {">ID": 0}, "start": -1})
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    async def export(ids: IdBitmap) -> Extra:
        gate = asyncio.Semaphore(concurrency)
        connector = aiohttp.TCPConnector(limit=concurrency + 2)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def post(method: str, body: bytes) -> Any:
                async with gate, session.post(target.webhook + method, data=body, headers=headers) as r:
                    raw = await r.read()
                return json.loads(raw)

            ids.add_rows((await post(METHOD, probe))["result"])

            async def batch(body: bytes, expected_rows: int) -> None:
                payload = await post("batch", body)
                results = payload["result"]["result"]
                pages = results.values() if isinstance(results, Mapping) else results
                for rows in pages:
                    ids.add_rows(rows)

            await asyncio.gather(*(batch(body, n) for body, n in bodies))
        return {"concurrency": concurrency, "batches": len(bodies)}

    return lambda ids: asyncio.run(export(ids))


LOADERS: dict[str, Callable[[Spec, Target], Export]] = {
    "ours": load_ours,
    "ours_list": load_ours_list,
    "fast_bitrix24": load_fast_bitrix24,
    "b24pysdk": load_b24pysdk,
    "naive": load_naive,
    "floor": load_floor,
}


# -- process ----------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` belongs to the address space, which ``exec`` replaces;
    ``ru_maxrss`` survives ``exec`` and would report the parent's size at ``fork`` if that was larger."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def error_codes(error: BaseException) -> dict[str, int]:
    """Bitrix error codes per failed batch command, when the exception carries them (fast_bitrix24's
    ``ErrorInServerResponseException`` holds the batch's ``result_error`` map)."""
    codes: dict[str, int] = {}
    payload = error.args[0] if error.args else None
    if isinstance(payload, Mapping):
        for body in payload.values():
            if isinstance(body, Mapping) and "error" in body:
                codes[str(body["error"])] = codes.get(str(body["error"]), 0) + 1
    return codes


def describe(error: BaseException) -> str:
    """``Type: message`` for the error and its causes (at most three), at most 1,500 characters;
    a map of failed batch commands is summarised by error code."""
    parts: list[str] = []
    seen: BaseException | None = error
    while seen is not None and len(parts) < 3:
        codes = error_codes(seen)
        if codes:
            summary = ", ".join(f"{n} x {code}" for code, n in codes.items())
            parts.append(f"{type(seen).__name__}: batch commands failed: {summary} ({str(seen)[:200]}...)")
        else:
            parts.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    return " <- ".join(parts)[:1500]


def run(spec_text: str, target: Target) -> dict[str, Any]:
    spec = Spec.parse(spec_text)
    result: dict[str, Any] = {"client": spec_text, "ok": False, "error": None}
    ids = IdBitmap()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            export = LOADERS[spec.name](spec, target)
        except Exception as error:
            result["error"] = "setup: " + describe(error)
            result["traceback"] = traceback.format_exc()[-3000:]
            return result
        gc.collect()
        result["rss_baseline_mb"] = round(peak_rss_mb(), 1)
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            result["extra"] = export(ids)
            result["ok"] = True
        except BaseException as error:
            result["error"] = describe(error)
            result["error_codes"] = error_codes(error)
            result["traceback"] = traceback.format_exc()[-3000:]
        result["seconds"] = time.perf_counter() - t0
        result["cpu_seconds"] = time.process_time() - cpu0
    result["rss_peak_mb"] = round(peak_rss_mb(), 1)
    result["rows"] = ids.rows
    result["dupes"] = ids.dupes
    result["bitmap"] = ids.encode()
    result["warnings"] = [f"{w.category.__name__}: {w.message}"[:400] for w in caught[:10]]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.clients", description=__doc__.split("\n")[0])
    parser.add_argument("client", help=f"one of {sorted(LOADERS)}, optionally name:key=value,...")
    parser.add_argument("--webhook", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    if not args.webhook.startswith("http://127.0.0.1:"):
        parser.error("the benchmark only talks to the emulator on 127.0.0.1")
    result = run(args.client, Target(args.webhook, args.time_scale))
    args.out.write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
