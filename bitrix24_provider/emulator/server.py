"""The HTTP face of the emulated portal: routes, authentication, limits, faults and envelopes."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from . import fastjson, phpjson
from .auth import Principal, authenticate_webhook
from .errors import RestError, method_not_found
from .faults import HTML_ERROR_PAGE, Fault
from .params import merge_request_params
from .portal import Portal, query_limit_exceeded

PORTAL_KEY: web.AppKey[Portal] = web.AppKey("portal", Portal)

_GATEWAY_TIMEOUT_PAGE = (
    "<html><head><title>504 Gateway Time-out</title></head><body><center>"
    "<h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>"
)


def json_response(
    body: Any,
    status: int = 200,
    extra_headers: dict[str, str] | None = None,
    *,
    reference: bool = False,
) -> web.Response:
    """A JSON response as PHP writes it (``reference``: with the slow reference encoder)."""
    headers = {"Access-Control-Allow-Origin": "*", **(extra_headers or {})}
    return web.Response(
        body=(phpjson.dumps if reference else fastjson.dumps)(body),
        status=status,
        content_type="application/json",
        charset="utf-8",
        headers=headers,
    )


def error_response(error: RestError) -> web.Response:
    return json_response(error.body(), error.status)


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string (raw, as PHP sees it) merged with the body per contract §1.2."""
    body = await request.read() if request.can_read_body else b""
    return merge_request_params(
        request.rel_url.raw_query_string, request.headers.get("Content-Type"), body, request.method
    )


def _split_rest_path(path: str) -> tuple[str | None, str | None, str]:
    """``/rest/<user>/<code>/<method>[.json][/]`` or ``/rest/<method>[.json]`` -> (user, code, method)."""
    parts = [p for p in path.split("/") if p][1:]
    if len(parts) == 3:
        user, code, method = parts
    elif len(parts) == 1:
        user, code, method = None, None, parts[0]
    else:
        return None, None, ""
    if method.lower().endswith(".json"):
        method = method[: -len(".json")]
    return user, code, method


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


async def handle_rest(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    portal.counters.enter()
    try:
        response = await _handle_rest(request, portal)
    finally:
        portal.counters.leave()
    portal.counters.http_by_status[str(response.status)] += 1
    return response


async def _handle_rest(request: web.Request, portal: Portal) -> web.StreamResponse:
    user, code, method = _split_rest_path(request.path)
    try:
        params = await read_params(request)
        principal = _authenticate(portal, user, code, params, request)
        if not method:
            raise method_not_found()
        if not portal.bucket.try_acquire(request.remote or "?"):
            raise query_limit_exceeded()
    except RestError as error:
        return error_response(error)

    faults = portal.faults.draw() if portal.config.faults.strike(method) else set()
    for fault in faults:
        portal.counters.faults[fault.value] += 1
    if Fault.SLOW in faults:
        await asyncio.sleep(portal.config.faults.slow_seconds)
    if Fault.QUERY_LIMIT in faults:
        return error_response(query_limit_exceeded())
    if Fault.SERVER_ERROR in faults:
        return error_response(RestError("INTERNAL_SERVER_ERROR", "Internal server error", 500))
    if Fault.DROP in faults:
        return _drop(request)
    if Fault.HTML in faults:
        return web.Response(text=HTML_ERROR_PAGE, status=200, content_type="text/html")

    try:
        outcome = portal.execute(principal, method, params, Fault.SILENT_EMPTY in faults)
    except RestError as error:
        return error_response(error)
    if portal.config.simulate_cost:
        await portal.clock.sleep(min(outcome.cost, portal.config.request_timeout) + portal.config.round_trip)
    # the call ran (its writes are done); what the client sees now cannot tell it so
    if Fault.SLOW_AFTER in faults:
        await asyncio.sleep(portal.config.faults.slow_seconds)
    if Fault.SERVER_ERROR_AFTER in faults:
        return error_response(RestError("INTERNAL_SERVER_ERROR", "Internal server error", 500))
    if Fault.DROP_AFTER in faults:
        return _drop(request)
    if outcome.timed_out:
        return web.Response(text=_GATEWAY_TIMEOUT_PAGE, status=504, content_type="text/html")
    headers = {"X-Bitrix-Rest-Time": f"{outcome.cost:.6f}"}
    response = json_response(outcome.body, outcome.status, headers, reference=portal.reference)
    if Fault.TRUNCATED in faults and response.body is not None:
        raw = bytes(response.body)  # type: ignore[arg-type]
        response.body = raw[: max(1, len(raw) // 2)]
    return response


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the response returned is never sent)."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=500)


def _authenticate(
    portal: Portal, user: str | None, code: str | None, params: dict[str, Any], request: web.Request
) -> Principal:
    if user is not None and code is not None:
        return authenticate_webhook(portal.config, user, code)
    token = params.pop("auth", None) or params.pop("access_token", None) or _bearer(request)
    return portal.oauth.authenticate(token if isinstance(token, str) else None, portal.clock.now())


async def handle_oauth_token(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    params = await read_params(request)
    base = f"{request.scheme}://{request.host}"
    try:
        return json_response(portal.oauth.refresh(params, portal.clock.now(), base))
    except RestError as error:
        return error_response(error)


# -- introspection --------------------------------------------------------------------------


async def handle_stats(request: web.Request) -> web.Response:
    return json_response(request.app[PORTAL_KEY].stats())


async def handle_reset(request: web.Request) -> web.Response:
    params = await read_params(request)
    request.app[PORTAL_KEY].reset(
        counters=str(params.get("counters", "1")) not in ("0", "false", "False"),
        limits=str(params.get("limits", "1")) not in ("0", "false", "False"),
    )
    return json_response({"result": True})


async def handle_config(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    if request.method == "POST":
        try:
            changes = await request.json()
            if not isinstance(changes, dict):
                raise ValueError("the body must be a JSON object")
            portal.reconfigure(changes)
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            return json_response({"error": "INVALID_CONFIG", "error_description": str(error)}, 400)
    return json_response(portal.config.to_dict())


async def handle_ids(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    entity = request.match_info["entity"]
    try:
        ids = portal.store.seeded_ids(entity)
    except KeyError:
        return json_response({"error": "NOT_FOUND", "error_description": f"no entity {entity!r}"}, 404)
    return json_response({"entity": entity, "ids": ids})


async def handle_restore(request: web.Request) -> web.Response:
    """``POST /_emulator/restore/<entity>/<id>``: a deleted record back from the recycle bin."""
    portal = request.app[PORTAL_KEY]
    entity, rid = request.match_info["entity"], request.match_info["rid"]
    try:
        portal.restore(entity, int(rid))
    except (KeyError, ValueError):
        return json_response(
            {"error": "NOT_FOUND", "error_description": f"no deleted {entity} {rid!r} to restore"}, 404
        )
    return json_response({"result": True})


async def handle_issue_token(request: web.Request) -> web.Response:
    portal = request.app[PORTAL_KEY]
    return json_response(portal.oauth.issue(portal.clock.now()))


def build_app(portal: Portal) -> web.Application:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[PORTAL_KEY] = portal
    app.router.add_route("*", "/oauth/token", handle_oauth_token)
    app.router.add_route("*", "/oauth/token/", handle_oauth_token)
    app.router.add_get("/_emulator/stats", handle_stats)
    app.router.add_post("/_emulator/reset", handle_reset)
    app.router.add_route("*", "/_emulator/config", handle_config)
    app.router.add_get("/_emulator/ids/{entity}", handle_ids)
    app.router.add_post("/_emulator/restore/{entity}/{rid}", handle_restore)
    app.router.add_post("/_emulator/oauth/issue", handle_issue_token)
    app.router.add_route("*", "/rest/{tail:.*}", handle_rest)
    return app
