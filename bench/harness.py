"""Processes of a benchmark run: the emulator (``python -m bitrix24_provider.emulator``) and one client
(``python -m bench.clients``), each a subprocess on 127.0.0.1, plus the completeness check."""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from .clients import decode_bitmap

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
_READY = re.compile(r"^READY (http://127\.0\.0\.1:\d+/rest/\S+)$", re.M)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.setdefault("PYTHONHASHSEED", "0")
    return env


class Emulator:
    """The emulator as a subprocess; its CPU time is read with psutil."""

    def __init__(
        self,
        deals: int,
        *,
        billing: str = "per_method",
        time_scale: float = 1.0,
        cost: bool = True,
        start_timeout: float = 180.0,
        costs: dict[str, float] | None = None,
        round_trip: float = 0.0,
        cpus: str | None = None,
        short_page_reference: str = "no_rows",
    ) -> None:
        self.deals = deals
        self.billing = billing
        self.time_scale = time_scale
        self.cost = cost
        self.start_timeout = start_timeout
        self.args = [
            *pinned(cpus),
            PYTHON,
            "-m",
            "bitrix24_provider.emulator",
            "--port",
            "0",
            "--deals",
            str(deals),
            "--time-scale",
            repr(float(time_scale)),
            "--batch-billing",
            billing,
            *([] if cost else ["--no-cost"]),
            *(["--costs", json.dumps(costs)] if costs else []),
            *(["--round-trip", repr(float(round_trip))] if round_trip else []),
            "--short-page-reference",
            short_page_reference,
        ]
        self.proc: subprocess.Popen[bytes] | None = None
        self.webhook = ""
        self.base = ""
        self._log: Path | None = None
        self._ps: psutil.Process | None = None

    def command(self) -> str:
        return " ".join(self.args[self.args.index(PYTHON) + 1 :])

    def start(self) -> Emulator:
        fd, name = tempfile.mkstemp(prefix="bench-emulator-", suffix=".log")
        self._log = Path(name)
        with os.fdopen(fd, "wb") as log:
            self.proc = subprocess.Popen(
                self.args, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            text = self._log.read_text(errors="replace")
            match = _READY.search(text)
            if match:
                self.webhook = match.group(1)
                self.base = self.webhook.split("/rest/")[0]
                self._ps = psutil.Process(self.proc.pid)
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited with {self.proc.returncode}: {text[-2000:]}")
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the emulator did not print READY within {self.start_timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.unlink(missing_ok=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        if self._ps is None:
            return 0.0
        times = self._ps.cpu_times()
        return float(times.user + times.system)

    def rss_mb(self) -> float:
        return self._ps.memory_info().rss / 2**20 if self._ps is not None else 0.0

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base + path, timeout=120) as response:
            return json.loads(response.read())

    def post(self, path: str) -> Any:
        request = urllib.request.Request(self.base + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.get("/_emulator/stats")
        for key in ("http_by_status", "commands_by_method", "operating_by_method", "faults"):
            if isinstance(stats.get(key), list):  # PHP-style [] for an empty map
                stats[key] = {}
        return stats

    def expected_ids(self) -> list[int]:
        return [int(i) for i in self.get("/_emulator/ids/deal")["ids"]]


@dataclass
class ChildRun:
    result: dict[str, Any]
    wall_seconds: float
    stderr_tail: str


def pinned(cpus: str | None) -> list[str]:
    """``taskset -c <cpus>`` before a command, to keep it on those cores (``None``: anywhere)."""
    return ["taskset", "-c", cpus] if cpus else []


def run_client(
    spec: str, webhook: str, time_scale: float, timeout: float, cpus: str | None = None
) -> ChildRun:
    """Run ``python -m bench.clients`` once; a timeout or a crash is reported in ``result``."""
    fd, name = tempfile.mkstemp(prefix="bench-client-", suffix=".json")
    os.close(fd)
    out = Path(name)
    args = [
        *pinned(cpus),
        PYTHON,
        "-m",
        "bench.clients",
        spec,
        "--webhook",
        webhook,
        "--time-scale",
        repr(float(time_scale)),
        "--out",
        str(out),
    ]
    started = time.perf_counter()
    try:
        done = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - started
        stderr = done.stderr[-3000:]
        text = out.read_text() if out.exists() else ""
        if text:
            result: dict[str, Any] = json.loads(text)
        else:
            error = f"client process exited {done.returncode}: {stderr}"
            result = {"client": spec, "ok": False, "error": error}
    except subprocess.TimeoutExpired as expired:
        wall = time.perf_counter() - started
        stderr = (expired.stderr or b"")[-3000:].decode(errors="replace") if expired.stderr else ""
        result = {"client": spec, "ok": False, "error": f"timeout: no result within {timeout:.0f} s (real)"}
        result["timed_out"] = True
        result["seconds"] = wall
    finally:
        out.unlink(missing_ok=True)
    return ChildRun(result, wall, stderr)


def completeness(bitmap: str, expected: list[int], dupes: int) -> dict[str, Any]:
    """Compare the IDs a client received with the emulator's exact ID set."""
    bits = decode_bitmap(bitmap)
    size = len(bits)
    missing = 0
    for rid in expected:
        byte = rid >> 3
        if byte >= size or not bits[byte] >> (rid & 7) & 1:
            missing += 1
    received_unique = int.from_bytes(bits, "little").bit_count() if bits else 0
    unexpected = received_unique - (len(expected) - missing)
    return {
        "expected": len(expected),
        "unique": received_unique,
        "missing": missing,
        "unexpected": unexpected,
        "dupes": dupes,
        "complete": missing == 0 and unexpected == 0 and dupes == 0,
    }


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has been busy (all cores, all processes)."""
    t = psutil.cpu_times()  # guest time is already inside user; steal is not this VM's work
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0))


def children_cpu_seconds() -> float:
    """CPU seconds of this process's reaped children (the client subprocesses)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_until_quiet(max_busy: float, max_wait: float) -> float:
    """Wait (at most ``max_wait`` s) until other processes use less than ``max_busy`` of the machine's
    CPU (0..1, sampled over 1 s); return the last sample. Other engineers share this 2-core machine."""
    deadline = time.monotonic() + max_wait
    while True:
        busy = psutil.cpu_percent(interval=1.0) / 100.0
        if busy <= max_busy or time.monotonic() >= deadline:
            return busy
        time.sleep(2.0)


def code_version() -> str:
    """``<commit>`` of the repository, ``+dirty`` when ``bitrix24_provider/`` has local changes (other
    engineers commit while benchmarks run, so every run records the code it ran)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bitrix24_provider"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def machine() -> dict[str, Any]:
    import platform

    freq = psutil.cpu_freq()
    return {
        "cpus": psutil.cpu_count(logical=True),
        "cpus_physical": psutil.cpu_count(logical=False),
        "cpu_mhz": round(freq.current) if freq else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""
