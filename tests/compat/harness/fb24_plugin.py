"""pytest plugin for running fast_bitrix24's pinned tests over HTTP (``-p fb24_plugin``).

* ``--fb24-report=PATH`` writes ``{nodeid: {"outcome", "message", "replay_requests"}}`` for every
  test that ran (``replay_requests``: HTTP requests the replay portal answered during the test), and
  ``{"<nodeid> [teardown]": ...}`` for a failing teardown.
* ``--fb24-target=fast_bitrix24`` runs the real fast_bitrix24 through the same replay portal as our
  client: every handler a client gets (its own, or a test's ``MockSRH``) has its requests sent over HTTP
  by a real handler on the replay portal, which asks the test's handler for the answers
  (:mod:`fb24_replay`). Webhooks on 127.0.0.1 (the emulator) are left alone. With ``ours`` the shim
  package ``fast_bitrix24`` on ``PYTHONPATH`` does the same for our client.
* A test that sends a request to fast_bitrix24's dummy client (``https://google.com/path``, no portal)
  fails, even when the call then raised as the test expected: the suite means those calls to fail
  before any request.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
from fb24_replay import REPLAY, is_local

_RESULTS: dict[str, dict[str, Any]] = {}
#: the replay portal's request count when each test started
_REQUESTS: dict[str, int] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fb24", "fast_bitrix24 compatibility harness")
    group.addoption("--fb24-report", default=None, help="write the outcome of every test to this JSON file")
    group.addoption("--fb24-target", default="ours", choices=["ours", "fast_bitrix24"])


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("fb24_target") == "fast_bitrix24":
        _route_real_fast_bitrix24()


def _route_real_fast_bitrix24() -> None:
    """``BitrixAsync.srh`` of the real package becomes a property: the handler it is given stays what
    the tests see (``bx.srh.call_count``), and its requests go out through a real handler on the
    replay portal."""
    from fast_bitrix24 import bitrix
    from fast_bitrix24.srh import ServerRequestHandler

    def get(self: Any) -> Any:
        return self.__dict__["_fb24_srh"]

    def set_(self: Any, srh: Any) -> None:
        # the client's own handler (set by its constructor) carries its settings; a test's handler
        # may not (MockSRH passes respect_velocity_policy=False, which crashes fast_bitrix24's
        # throttler on answers with time.operating: a KeyError it never meets behind a mock)
        own = self.__dict__.setdefault("_fb24_own", srh)
        self.__dict__["_fb24_srh"] = srh
        if is_local(own.webhook):
            return
        route = REPLAY.route(srh, base=ServerRequestHandler)
        token_func = getattr(srh, "token_func", None)
        sender = ServerRequestHandler(
            route.endpoint if token_func else route.webhook,
            token_func,
            own.respect_velocity_policy,
            50,  # request_pool_size and requests_per_second: the suite's clients use the defaults
            2,
            own.operating_time_limit,
            None,
        )
        srh.single_request = sender.single_request
        srh.run_async = sender.run_async

    bitrix.BitrixAsync.srh = property(get, set_)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    REPLAY.take_unanswered()
    _REQUESTS[item.nodeid] = REPLAY.requests


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call":
        return
    sent = REPLAY.take_unanswered()
    if sent and report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"sent {len(sent)} request(s) ({', '.join(sorted(set(sent)))}) to fast_bitrix24's dummy client, "
            "which has no portal: the call was to fail before any request"
        )


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """The call's outcome under the test's id (a setup error or skip instead, when there was no
    call); a failing teardown under ``<id> [teardown]``, since it may be a session fixture's."""
    if report.passed and report.when != "call":
        return
    key = f"{report.nodeid} [teardown]" if report.when == "teardown" else report.nodeid
    _RESULTS[key] = {
        "outcome": "error" if report.when != "call" and report.failed else report.outcome,
        "message": _message(report),
        "replay_requests": REPLAY.requests - _REQUESTS.get(report.nodeid, REPLAY.requests),
    }


def _message(report: pytest.TestReport) -> str:
    if report.passed:
        return ""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = session.config.getoption("fb24_report")
    if path:
        Path(path).write_text(json.dumps(_RESULTS, indent=1, ensure_ascii=False), encoding="utf-8")
