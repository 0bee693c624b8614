"""Positions carried over when the client reports its id ranges again (a chain split mid-export)."""

from __future__ import annotations

from bitrix24_provider.sync.id_ranges import carried


def test_a_range_cut_in_two_keeps_its_position_in_the_lower_part() -> None:
    # (0, 1000] had reached 400; the client cut it at 700
    assert carried([(0, 400, 1000)], [(0, 700), (700, 1000)]) == [400, 700]
    # the open last range, cut at 5000
    assert carried([(1000, 1800, None)], [(1000, 5000), (5000, None)]) == [1800, 5000]


def test_a_position_never_passes_the_new_upper_end() -> None:
    assert carried([(0, 900, 1000)], [(0, 700), (700, 1000)]) == [700, 900]


def test_ranges_nobody_reached_start_at_their_lower_end() -> None:
    assert carried([], [(0, 10), (10, None)]) == [0, 10]
    # a range below an old one's start was not reached by it
    assert carried([(500, 900, None)], [(0, 500), (500, None)]) == [0, 900]
