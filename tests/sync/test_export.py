"""The export loop's pieces: the id ranges a resume point records, whether a load can resume by id
(the client's own paging plan) and the portal's clock, against the emulator over HTTP."""

from __future__ import annotations

from datetime import datetime

from bitrix24_provider.client import Bitrix
from bitrix24_provider.sync.export import RangeTracker, can_resume_by_id, portal_time


def test_committed_ids_raise_the_start_of_their_range_only():
    tracker = RangeTracker([(0, 1000), (1000, 2000), (2000, None)])
    tracker.commit([5, 7, 1001, 2500, 9000])
    assert tracker.ranges == [(7, 1000), (1001, 2000), (9000, None)]
    tracker.commit([3, 1500])  # below a range's committed start: no change; 1500 moves the second
    assert tracker.ranges == [(7, 1000), (1500, 2000), (9000, None)]
    tracker.on_ranges(None)  # the client fell back to offset paging: nothing to record by id
    tracker.commit([10])
    assert tracker.ranges is None


def test_a_range_the_client_cuts_in_two_keeps_what_was_committed():
    tracker = RangeTracker()
    tracker.on_ranges([(0, None)])
    tracker.on_ranges([(50, 1000), (1000, None)])  # the split after the first page
    tracker.commit([60, 70, 1010])
    assert tracker.ranges == [(70, 1000), (1010, None)]
    tracker.on_ranges([(50, 600), (600, 1000), (1000, 4000), (4000, None)])  # two chains split
    assert tracker.ranges == [(70, 600), (600, 1000), (1010, 4000), (4000, None)]
    tracker.commit([80, 650, 4100])
    assert tracker.ranges == [(80, 600), (650, 1000), (1010, 4000), (4100, None)]


def test_resuming_by_id_follows_the_clients_paging_plan():
    assert can_resume_by_id("crm.deal.list", {"select": ["*"], "order": {"ID": "ASC"}})
    assert can_resume_by_id("crm.item.list", {"entityTypeId": 1032})
    assert not can_resume_by_id("crm.deal.list", {"order": {"TITLE": "ASC"}})  # offset paging


def test_the_portals_clock_gives_the_export_start(make_portal):
    emulator = make_portal(deals=1)
    with Bitrix(emulator.webhook_url) as client:
        started = portal_time(client)
    moment = datetime.fromisoformat(started)
    assert moment.tzinfo is not None and moment.microsecond == 0
    assert abs(moment.timestamp() - emulator.portal.clock.now()) < 5
