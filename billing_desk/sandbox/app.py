"""The HTTP face of the sandbox (aiohttp): Stripe's `/v1/...` API and the `/_sandbox/` admin.

A Stripe request goes through, in order: authentication (401), the outage switch (503), the
account's rate limit (429 `rate_limit`), routing (404), parsing, an injected 500
(`fail_rate`), idempotency (replay / 400 / 409), parameter validation against stripe-python's
params (400), object locks (429 `lock_timeout`, only while another write to the same object is
in flight), injected latency, the endpoint itself, and finally, for a successful write, the
chance that its response is dropped after the change was committed.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import html
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from billing_desk.sandbox import faults
from billing_desk.sandbox.errors import StripeError
from billing_desk.sandbox.forms import parse_form
from billing_desk.sandbox.routes import Route
from billing_desk.sandbox.sandbox import (
    KEY_PATTERN,
    ROUTER,
    AccountRuntime,
    LogEntry,
    Sandbox,
)
from billing_desk.sandbox.schema import validate
from billing_desk.sandbox.state import API_VERSION

SANDBOX = web.AppKey("sandbox", Sandbox)
_JSON = "application/json"


def _masked(key: str) -> str:
    return f"{key[:8]}{'*' * 4}{key[-4:]}" if len(key) > 12 else "****"


def _api_key(header: str | None) -> str | None:
    """The key from `Authorization` (Bearer, or Basic with the key as user); '' if malformed."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def _authenticate(header: str | None) -> str:
    key = _api_key(header)
    if key is None:
        raise StripeError(
            401,
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            "YOUR_SECRET_KEY').",
        )
    if not KEY_PATTERN.fullmatch(key):
        raise StripeError(
            401,
            f"Invalid API Key provided: {_masked(key)}. The sandbox accepts test keys only "
            "(sk_test_… or rk_test_…).",
        )
    return key


def _respond(status: int, body: bytes, headers: dict[str, str]) -> web.Response:
    return web.Response(status=status, body=body, headers=headers)


async def stripe_api(request: web.Request) -> web.StreamResponse:
    """Every `/v1/...` request."""
    sandbox = request.app[SANDBOX]
    sandbox.in_flight += 1
    sandbox.peak_in_flight = max(sandbox.peak_in_flight, sandbox.in_flight)
    try:
        return await _stripe_api(request, sandbox)
    finally:
        sandbox.in_flight -= 1


async def _stripe_api(request: web.Request, sandbox: Sandbox) -> web.StreamResponse:
    started = time.perf_counter()
    method = request.method
    path = request.path
    request_id = "req_" + secrets.token_hex(7)
    headers = {"Content-Type": _JSON, "Request-Id": request_id, "Stripe-Version": API_VERSION}
    matched = ROUTER.match(method, path)
    endpoint = matched[0].endpoint if matched else f"{method} (unrecognized)"
    rt: AccountRuntime | None = None
    idempotency_key: str | None = None
    replayed = False
    fault: str | None = None
    drop = False
    latency_ms = 0.0
    try:
        rt = sandbox.runtime_for_key(_authenticate(request.headers.get("Authorization")))
        config = sandbox.config_for(rt)
        if config.outage:
            fault = "outage"
            raise faults.outage()
        if config.rate_limit is not None and not rt.bucket.take(config.rate_limit):
            fault = "rate_limit"
            raise faults.rate_limited()
        if matched is None:
            raise StripeError(
                404,
                f"Unrecognized request URL ({method}: {path}). Please see "
                "https://stripe.com/docs or we can help at https://support.stripe.com/.",
            )
        route, path_args = matched
        form = parse_form(request.query_string)
        raw = await request.text() if request.body_exists else ""
        if raw:
            form.update(parse_form(raw))
        if config.fail_rate and rt.faults.random() < config.fail_rate:
            fault = "fail"
            raise faults.injected_failure()
        if method == "POST":
            idempotency_key = request.headers.get("Idempotency-Key") or None
            if idempotency_key is not None and len(idempotency_key) > 255:
                raise StripeError(
                    400, "Idempotency keys can be at most 255 characters long.", param=None
                )
        status, body, replayed, latency_ms = await _run(
            sandbox, rt, config, route, path_args, form, request_id, idempotency_key,
            f"{request.scheme}://{request.host}", f"{method} {path}?{request.query_string}\n{raw}",
        )  # fmt: skip
        drop = (
            route.writes
            and status == 200
            and not replayed
            and config.drop_after_commit_rate > 0
            and rt.faults.random() < config.drop_after_commit_rate
        )
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
    except StripeError as exc:
        status = exc.status
        body = json.dumps(exc.body(request_id)).encode()
        headers.update(exc.headers)
        if exc.code == "lock_timeout":
            fault = "lock_timeout"
    if drop:
        fault = "drop"
    sandbox.record(
        rt,
        LogEntry(
            time=int(sandbox.now(rt)),
            account=rt.account.id if rt else None,
            method=method,
            path=path,
            endpoint=endpoint,
            status=status,
            request_id=request_id,
            idempotency_key=idempotency_key,
            replayed=replayed,
            fault=fault,
            latency_ms=round(latency_ms, 3),
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        ),
    )
    # Stripe's Date is Stripe's clock: clients that anchor on it must see the sandbox's time.
    headers["Date"] = email.utils.formatdate(sandbox.now(rt), usegmt=True)
    if drop and request.transport is not None:
        # Committed, stored for idempotent replay, and the answer never arrives.
        request.transport.abort()
    return _respond(status, body, headers)


async def _run(
    sandbox: Sandbox,
    rt: AccountRuntime,
    config: faults.FaultConfig,
    route: Route,
    path_args: dict[str, str],
    form: dict[str, Any],
    request_id: str,
    idempotency_key: str | None,
    base_url: str,
    fingerprint: str,
) -> tuple[int, bytes, bool, float]:
    """From idempotency to the endpoint: (status, body, replayed, injected latency in ms)."""
    if idempotency_key:
        rt.idempotency.prune(sandbox.now(rt))
        stored = rt.idempotency.begin(idempotency_key, fingerprint, sandbox.now(rt))
        if stored is not None:
            assert stored.status is not None
            return stored.status, stored.body, True, 0.0
    locked: list[str] = []
    try:
        params = validate(route.params, form)
        for name in route.locks:
            target = path_args.get(name) or params.get(name)
            if isinstance(target, str) and target:
                if target in rt.locks:
                    raise faults.lock_timeout()
                locked.append(target)
        rt.locks.update(locked)
        latency_ms = await _latency(rt, config)
    except BaseException:
        rt.locks.difference_update(locked)
        if idempotency_key:
            rt.idempotency.abandon(idempotency_key)
        raise
    try:
        status, body = sandbox.execute(
            rt, route, path_args, params, request_id=request_id,
            idempotency_key=idempotency_key, base_url=base_url,
        )  # fmt: skip
    finally:
        rt.locks.difference_update(locked)
    encoded = json.dumps(body).encode()
    if idempotency_key:
        rt.idempotency.finish(idempotency_key, status, encoded, request_id)
    return status, encoded, False, latency_ms


async def _latency(rt: AccountRuntime, config: faults.FaultConfig) -> float:
    """Sleep the configured latency ± jitter; returns the milliseconds injected."""
    if config.latency_ms <= 0:
        return 0.0
    jitter = config.jitter_ms
    delay = max(0.0, config.latency_ms + (rt.faults.uniform(-jitter, jitter) if jitter else 0.0))
    await asyncio.sleep(delay / 1000)
    return delay


# /_sandbox/ admin ----------------------------------------------------------------------------


def _admin_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message}}, status=status)


def _scope(request: web.Request) -> AccountRuntime | None:
    """The account an admin call is about (its API key in Authorization), or None = server."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    return request.app[SANDBOX].runtime_for_key(_authenticate(header))


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _admin(
    handler: Callable[[web.Request, Sandbox, AccountRuntime | None], Awaitable[Any]],
) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            scope = _scope(request)
            result = await handler(request, request.app[SANDBOX], scope)
        except StripeError as exc:
            return web.json_response(exc.body(), status=exc.status)
        except (ValueError, KeyError, TypeError, OSError) as exc:
            return _admin_error(400, str(exc))
        if isinstance(result, web.StreamResponse):
            return result
        return web.json_response(result)

    return wrapped


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise ValueError(f"the body must be a JSON object ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def health(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    return {
        "status": "ok",
        "accounts": len(sandbox.accounts),
        "api_version": API_VERSION,
        "in_flight": sandbox.in_flight,
        "peak_in_flight": sandbox.peak_in_flight,
    }


async def get_config(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    config = sandbox.config_for(scope) if scope else sandbox.config
    return {
        **config.to_json(),
        "random_seed": sandbox.random_seed,
        "seed": sandbox.seed,
        "scope": scope.account.id if scope else "server",
    }


async def set_config(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    sandbox.set_config(await _json_body(request), scope)
    return await get_config(request, sandbox, scope)


async def get_clock(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    offset = sandbox.clock_offset + (scope.clock_offset if scope else 0.0)
    return {"now": int(sandbox.now(scope)), "offset_seconds": offset}


async def advance_clock(
    request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None
) -> Any:
    body = await _json_body(request)
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError("seconds must be a non-negative number (the clock only moves forward)")
    if scope is None:
        sandbox.clock_offset += seconds
    else:
        scope.clock_offset += seconds
    return await get_clock(request, sandbox, scope)


async def get_requests(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    limit = int(request.query.get("limit", "100"))
    entries = list(scope.log if scope else sandbox.log)[-limit:] if limit > 0 else []
    return {"data": [e.to_json() for e in reversed(entries)]}


async def get_counts(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    counts = scope.counts if scope else sandbox.counts
    return {"counts": dict(counts), "total": sum(counts.values())}


async def reset(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    sandbox.reset(scope)
    return {"reset": scope.account.id if scope else "server"}


def _state_path(sandbox: Sandbox, body: dict[str, Any]) -> Path:
    if body.get("path"):
        return Path(str(body["path"]))
    if sandbox.state_file is None:
        raise ValueError("no path given and the sandbox was started without --state FILE")
    return sandbox.state_file


async def snapshot(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    path = _state_path(sandbox, await _json_body(request))
    sandbox.save(path)
    return {"saved": str(path), "accounts": len(sandbox.accounts)}


async def restore(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    path = _state_path(sandbox, await _json_body(request))
    sandbox.load(path)
    return {"restored": str(path), "accounts": len(sandbox.accounts)}


async def hosted(request: web.Request, sandbox: Sandbox, scope: AccountRuntime | None) -> Any:
    """The page `hosted_invoice_url` (and a credit note's `pdf`) points at."""
    rt = sandbox.accounts.get(request.match_info["account"])
    obj = rt.account.objects.get(request.match_info["object_id"]) if rt else None
    if obj is None or obj.get("object") not in ("invoice", "credit_note"):
        return web.Response(status=404, text="No such invoice or credit note.")
    title = "Invoice" if obj["object"] == "invoice" else "Credit note"
    amount = obj.get("amount_due", obj.get("total"))
    rows = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(obj.get(k)))}</td></tr>"
        for k in ("number", "status", "currency", "total", "amount_due", "amount_paid")
        if k in obj
    )
    page = (
        f"<!doctype html><title>{title} {html.escape(str(obj.get('number')))}</title>"
        f"<h1>{title} {html.escape(str(obj.get('number')))}</h1>"
        f"<p>Billing Desk sandbox — amount {html.escape(str(amount))} "
        f"{html.escape(str(obj.get('currency', '')).upper())}</p><table>{rows}</table>"
    )
    return web.Response(text=page, content_type="text/html")


def build_app(sandbox: Sandbox) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[SANDBOX] = sandbox
    admin = [
        ("GET", "/_sandbox/health", health),
        ("GET", "/_sandbox/config", get_config),
        ("POST", "/_sandbox/config", set_config),
        ("GET", "/_sandbox/clock", get_clock),
        ("POST", "/_sandbox/clock/advance", advance_clock),
        ("GET", "/_sandbox/requests", get_requests),
        ("GET", "/_sandbox/counts", get_counts),
        ("POST", "/_sandbox/reset", reset),
        ("POST", "/_sandbox/snapshot", snapshot),
        ("POST", "/_sandbox/restore", restore),
        ("GET", "/_sandbox/hosted/{account}/{object_id}", hosted),
    ]
    for method, path, handler in admin:
        app.router.add_route(method, path, _admin(handler))
    app.router.add_route("*", "/{tail:.*}", stripe_api)
    return app
