"""How far each id range of a keyset export has got, carried over when the client reports the ranges
again: a chain split while the export runs cuts one range in two (``(lo, hi]`` becomes ``(lo, m]``
and ``(m, hi]``), and what was reached in the old range is still reached in its lower part."""

from __future__ import annotations

from collections.abc import Sequence

from ..client.pages import IdRange


def carried(reached: Sequence[tuple[int, int, int | None]], ranges: Sequence[IdRange]) -> list[int]:
    """The position in each of ``ranges``: its start, or how far an old range reached into it.

    :param reached: ``(start, position, upto)`` of each old range: every id in ``(start, position]``
        of it has been reached (ranges are read in ascending id order).
    :param ranges: the new ``(after, upto)`` ranges.
    """
    positions: list[int] = []
    for after, upto in ranges:
        position = after
        for start, old_position, old_upto in reached:
            if start <= after < old_position and (old_upto is None or after < old_upto):
                position = max(position, old_position if upto is None else min(old_position, upto))
        positions.append(position)
    return positions
