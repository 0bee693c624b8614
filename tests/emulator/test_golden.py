"""Responses stay byte-identical (except ``time`` values) to the recorded golden digests."""

from __future__ import annotations

import json

from .golden import DIGESTS, READS, digest, record


async def test_reads_match_the_recorded_digests() -> None:
    known = json.loads(DIGESTS.read_text())
    assert set(known) == {req.name for req in READS}
    answers = await record()
    changed = [name for name, (status, body) in answers.items() if digest(status, body) != known[name]]
    assert changed == []
