"""The emulator in a process of its own, as the demo scripts start it: ``python -m
bitrix24_provider.emulator`` on a free port, and the webhook URL it prints when it is ready."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping


def start_process(
    counts: Mapping[str, int], *, new_session: bool = False
) -> tuple[subprocess.Popen[str], str]:
    """Start an emulator seeded with ``counts`` rows per entity (``{"deals": 1000, ...}``, the CLI's
    ``--deals``...); the process and its webhook URL once it is ready.

    :param new_session: start it in a session of its own (stopped with its process group).
    :raises SystemExit: the emulator did not report that it is ready.
    """
    command = [sys.executable, "-m", "bitrix24_provider.emulator", "--port", "0"]
    for entity, count in counts.items():
        command += [f"--{entity}", str(count)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, start_new_session=new_session)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("READY "):
        process.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return process, line.split(" ", 1)[1]
