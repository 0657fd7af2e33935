"""A local, stateful, Stripe-compatible server for tests and the demo (API v1, 2026-10-28.endive).

Nothing here imports the rest of the app: it is an honest stand-in for Stripe, judged by
stripe-python 16's own parameter types and Stripe's fixtures.

Running it
    billing-desk sandbox [--host H] [--port P] [--seed none|demo] [--rate-limit RPS]
        [--latency-ms MS] [--fail-rate P] [--drop-after-commit-rate P] [--random-seed N]
        [--state FILE]
    prints `listening on http://HOST:PORT` once ready (with the global --json:
    `{"url": ...}`); SIGTERM/SIGINT stop it (exit 0). Default port 12111.

    In-process (tests, the GUI's demo workspace), on a thread with its own event loop:
        with SandboxServer(port=0, seed="demo", faults=FaultConfig(latency_ms=5)) as server:
            client = stripe.StripeClient(DEMO_API_KEY, base_addresses={"api": server.url},
                                         max_network_retries=0)

Accounts
    Every distinct API key (`sk_test_…` or `rk_test_…`; anything else is a 401) is its own
    Stripe account: own objects, rate bucket, idempotency keys, events, faults and clock.
    A fresh random key (`testing.new_test_key()`) is a fresh, empty account. `--seed demo`
    fills the account of `DEMO_API_KEY`; `demo_customers()` lists its customers for pairing
    with a local store (see `demo.py` for which customer has what).

Served (`routes.py`): customers (+search, balance transactions), invoice items, invoices
(+search, finalize, void, pay, mark_uncollectible, lines, add/update/remove_lines,
create_preview), credit notes (+preview, lines, void), events. Request parameters are judged
by stripe-python's `stripe.params` TypedDicts (`schema.py`); parameters Stripe has but the
sandbox does not model (prices, tax, discounts, payment methods…) are refused with a 400
naming them. `expand[]` works for customer, invoice, credit note and balance-transaction
references (also as `data.x` on lists). Behaviour notes: `resources/invoices.py` (status
machine, balances, minimum charge, automatic finalization; payments always succeed) and
`resources/credit_notes.py` (pre/post-payment split).
Every write emits Stripe's event (`customer.*`, `invoiceitem.created/deleted`,
`invoice.created/updated/finalized/paid/voided/marked_uncollectible/deleted`,
`credit_note.*`), with `data.previous_attributes` on updates; kept 30 sandbox days.

Failure modes (flags set server defaults; `/_sandbox/config` changes them at runtime, for the
whole server or — with an API key in `Authorization` — for that account only):
    rate_limit (RPS, token bucket per account, 429 `rate_limit`), latency_ms and
    latency_jitter_ms, fail_rate (500 before anything is applied), drop_after_commit_rate
    (the write is applied and its response never arrives), outage (503). Concurrent writes
    to one object get 429 `lock_timeout` with `Stripe-Should-Retry: true` (visible when
    latency is injected, since requests then overlap). Idempotency: see `idempotency.py`.
    All randomness follows `--random-seed` (per account, so runs are reproducible).

Admin endpoints (JSON; scoped to an account when its key is sent as `Authorization: Bearer`)
    GET  /_sandbox/health            status, requests in flight now and at peak
    GET  /_sandbox/config            POST /_sandbox/config {"fail_rate": 0.1, ...}
    GET  /_sandbox/clock             POST /_sandbox/clock/advance {"seconds": 86400}
    GET  /_sandbox/requests?limit=N  the request log, newest first
    GET  /_sandbox/counts            requests per "METHOD /v1/path/{template}"
    POST /_sandbox/reset             forget the account (or everything, then re-seed)
    POST /_sandbox/snapshot {"path": optional}, POST /_sandbox/restore {"path": optional}
         (default: the --state FILE, which is also loaded at start and saved at stop)
    GET  /_sandbox/hosted/{account}/{id}  the page hosted_invoice_url points at
    `testing.SandboxAdmin(url, api_key)` wraps them.

Test fixtures (tests/conftest.py)
    `sandbox_server`: one in-process server for the session.
    `stripe_sandbox`: per test, a fresh account: `.url`, `.api_key`, `.admin`
    (a `SandboxAdmin` scoped to that account) and `.client()` (a stripe-python client).
    Set faults for your account only (`stripe_sandbox.admin.configure(fail_rate=1)`), never
    server-wide on the shared server.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing_desk.sandbox.demo import DEMO_API_KEY, demo_customers
    from billing_desk.sandbox.faults import FaultConfig
    from billing_desk.sandbox.server import SandboxServer
    from billing_desk.sandbox.testing import SandboxAdmin, new_test_key

# Imported on first use, so `DEMO_API_KEY` or the admin client do not pull in the server.
_EXPORTS = {
    "DEMO_API_KEY": "billing_desk.sandbox.demo",
    "demo_customers": "billing_desk.sandbox.demo",
    "FaultConfig": "billing_desk.sandbox.faults",
    "SandboxServer": "billing_desk.sandbox.server",
    "SandboxAdmin": "billing_desk.sandbox.testing",
    "new_test_key": "billing_desk.sandbox.testing",
}

__all__ = [
    "DEMO_API_KEY",
    "FaultConfig",
    "SandboxAdmin",
    "SandboxServer",
    "demo_customers",
    "new_test_key",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
