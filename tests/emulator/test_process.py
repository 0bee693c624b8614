"""The emulator started in a process of its own (``emulator.process``), as the demo scripts do."""

from __future__ import annotations

import json
import urllib.request
from urllib.parse import urlsplit

from bitrix24_provider.emulator.process import start_process


def test_a_started_emulator_serves_the_rows_it_was_seeded_with() -> None:
    process, webhook = start_process({"deals": 7, "leads": 3})
    try:
        parts = urlsplit(webhook)
        assert parts.hostname == "127.0.0.1" and parts.path.startswith("/rest/")
        for entity, count in (("deal", 7), ("lead", 3)):
            url = f"{parts.scheme}://{parts.netloc}/_emulator/ids/{entity}"
            with urllib.request.urlopen(url, timeout=30) as response:
                assert len(json.load(response)["ids"]) == count
    finally:
        process.terminate()
        process.wait(timeout=30)
