"""ClientPortal: the client and its throttle state, over real HTTP to the emulator."""

from __future__ import annotations

import pytest

from bitrix24_provider.client import Bitrix
from bitrix24_provider.sync import ClientPortal, Portal


def test_the_throttle_state_goes_out_and_comes_back(make_portal):
    emulator = make_portal(deals=5)
    with Bitrix(emulator.webhook_url) as first, Bitrix(emulator.webhook_url) as second:
        first.call("crm.deal.list", {"select": ["ID"]})
        portal: Portal = ClientPortal(first)
        assert portal.client() is first
        state = portal.throttle_state()
        assert state is not None and state["version"] >= 1
        assert "crm.deal.list" in state["budget"]["methods"]
        ClientPortal(second).restore_throttle_state(state)
        assert "crm.deal.list" in second.export_throttle_state()["budget"]["methods"]
        with pytest.raises(ValueError, match="unsupported throttle state version"):
            ClientPortal(second).restore_throttle_state({**state, "version": 999})
