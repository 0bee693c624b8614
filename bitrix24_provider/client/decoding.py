"""Decoding answer bodies: ``orjson`` where it gives exactly what ``json.loads`` gives, ``json`` otherwise.

A keyset batch of 50 full-row pages is a body of ~2.5 MB; decoding it is about two thirds of the
client's CPU during an export. ``orjson`` cuts that CPU by ~18 % in an export (``bench/RESULTS.md``);
the price is memory: on CPython 3.11 its dicts of nine or more keys take a general keys table, so a
49-field row is 2,264 bytes instead of 1,584 (``json_decoder="json"`` when memory matters more). It
does not read every body the same way as ``json.loads``:

* integers outside ``[-2**63, 2**64 - 1]`` silently become ``float`` (``json``: the exact ``int``).
  Such an integer has at least 19 digits, so a body with a run of 19 digits anywhere (also inside a
  string: a false alarm only costs speed) is handed to ``json.loads``. The scan is one
  ``bytes.translate`` and one ``find`` (~2.5 ms for 3 MB, against ~15 ms for the parse);
* bodies that ``json.loads`` accepts and ``orjson`` rejects: a UTF-8 byte-order mark, UTF-16/32,
  ``NaN`` / ``Infinity``, numbers beyond the float range (``json``: ``inf``), surrogate escapes
  without their pair, nesting deeper than 1024. On any ``orjson`` error, ``json.loads`` decides.

So for every body the ``orjson`` decoder returns what ``json.loads`` returns, or raises where it
raises (``ValueError`` for malformed, truncated and HTML bodies, which the transport retries). The
one exception: arrays or objects nested ~1,000 to 1,024 levels deep, where ``json.loads`` runs into
the interpreter's recursion limit (``RecursionError``) and ``orjson`` returns the value.
Everything else — PHP's ``[]`` for an empty map, non-ASCII text, escapes, float rounding, duplicate
keys (the last wins) — is read identically by both parsers.

Bodies are decoded on the event-loop thread. Handing large ones to a worker thread was measured and
dropped: both parsers hold the GIL for the whole parse, so the loop cannot run meanwhile, and the
hand-over made exports slower and the loop's stalls longer. Instead the transport parses large
answers that came together one at a time and lets the requests they release go out in between.

A body that is not the portal's JSON is described by :func:`excerpt` (an HTML page's title, else
its first characters) for the error that reports it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Literal

import orjson

__all__ = ["DECODERS", "Decoder", "DecoderName", "decode_json", "decode_orjson", "excerpt"]

DecoderName = Literal["orjson", "json"]
#: ``raw bytes -> (value, name of the parser that produced it)``; raises ``ValueError`` when the body
#: is not JSON (and whatever ``json.loads`` raises otherwise, e.g. ``RecursionError``).
Decoder = Callable[[bytes], tuple[Any, str]]

#: every ASCII digit to "0", every other byte to a space: a run of 19 digits becomes _NINETEEN
_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_NINETEEN = b"0" * 19


def decode_json(raw: bytes) -> tuple[Any, str]:
    return json.loads(raw), "json"


def decode_orjson(raw: bytes) -> tuple[Any, str]:
    if raw.translate(_DIGITS).find(_NINETEEN) >= 0:  # maybe an integer orjson would turn into a float
        return json.loads(raw), "json"
    try:
        return orjson.loads(raw), "orjson"
    except orjson.JSONDecodeError:
        return json.loads(raw), "json"


DECODERS: dict[str, Decoder] = {"orjson": decode_orjson, "json": decode_json}

_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)


def excerpt(raw: bytes, limit: int = 80) -> str:
    """What a body says in at most *limit* characters: an HTML page's ``<title>``, else its start
    (white space collapsed). Not scrubbed: the error that carries it scrubs it."""
    title = _TITLE.search(raw[:8192])
    text = " ".join((title.group(1) if title else raw[: 4 * limit]).decode("utf-8", "replace").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
