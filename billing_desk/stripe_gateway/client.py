"""The one way the app talks to Stripe: a pinned, explicitly configured `StripeClient`.

`open_gateway(config, limiter)` must be entered inside the event loop that will use it: the
async HTTP client binds to that loop. Every request passes the shared rate limiter, is counted
for the sync panel (`CallObserver`), carries the caller's idempotency key on writes, and is
retried here a few times on transient failures (backoff with jitter, same key); what still
fails is raised as one of `errors.StripeFailure`'s subclasses for the engine to reschedule.

`max_network_retries` is 0 on purpose: retries belong to this module, so each one waits for
the rate budget, is counted, and backs off as our policy says — the library's own retries
would bypass all three.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aiohttp
import stripe

from billing_desk.stripe_gateway import mapping
from billing_desk.stripe_gateway.errors import (
    StripeFailure,
    TransientStripeError,
    classify,
)
from billing_desk.stripe_gateway.limiter import RateLimiter
from billing_desk.stripe_gateway.types import (
    EventPage,
    StripeCreditNote,
    StripeCustomer,
    StripeInvoice,
    StripeInvoiceItem,
    StripeInvoiceLine,
)

API_VERSION = "2026-10-28.endive"
MAX_NETWORK_RETRIES = 0
PAGE = 100

T = TypeVar("T")


def is_live_key(api_key: str) -> bool:
    return api_key.startswith(("sk_live_", "rk_live_"))


@dataclass(frozen=True)
class RetryPolicy:
    """In-call retries of transient failures: `attempts` tries in all, full-jitter backoff."""

    attempts: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))


@dataclass(frozen=True)
class GatewayConfig:
    api_key: str
    base: str
    timeout_s: float = 30.0
    retry: RetryPolicy = RetryPolicy()

    def __repr__(self) -> str:  # the key never appears in a repr, a log or a traceback
        return f"GatewayConfig(base={self.base!r}, timeout_s={self.timeout_s})"


class CallObserver(Protocol):
    def on_call(self, endpoint: str, outcome: str, elapsed_s: float) -> None:
        """One request finished; outcome is `ok`, `rate_limited`, `transient` or `error`."""

    def on_backoff(self, endpoint: str, failure: StripeFailure, delay_s: float) -> None:
        """A transient failure; the same request is tried again after `delay_s`."""


class _NullObserver:
    def on_call(self, endpoint: str, outcome: str, elapsed_s: float) -> None:
        pass

    def on_backoff(self, endpoint: str, failure: StripeFailure, delay_s: float) -> None:
        pass


def make_stripe_client(config: GatewayConfig, http: stripe.HTTPClient) -> stripe.StripeClient:
    """The StripeClient every request goes through, over `http` (an async-capable client)."""
    return stripe.StripeClient(
        config.api_key,
        stripe_version=API_VERSION,
        base_addresses={"api": config.base},
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=http,
    )


@asynccontextmanager
async def open_gateway(
    config: GatewayConfig,
    limiter: RateLimiter,
    observer: CallObserver | None = None,
) -> AsyncIterator[StripeGateway]:
    # Created here, inside the running loop: the aiohttp session binds to the loop it runs in.
    http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=config.timeout_s))
    client = make_stripe_client(config, http)
    try:
        yield StripeGateway(client, limiter, config.retry, observer or _NullObserver())
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


class StripeGateway:
    def __init__(
        self,
        client: stripe.StripeClient,
        limiter: RateLimiter,
        retry: RetryPolicy,
        observer: CallObserver,
        rng: random.Random | None = None,
    ) -> None:
        self._v1 = client.v1
        self.limiter = limiter
        self._retry = retry
        self._observer = observer
        self._rng = rng or random.Random()
        self._loop_time = asyncio.get_running_loop().time

    async def _call(
        self,
        endpoint: str,
        request: Callable[[], Awaitable[T]],
        stripe_object: str | None = None,
    ) -> T:
        attempt = 0
        while True:
            await self.limiter.acquire()
            started = self._loop_time()
            try:
                result = await request()
            except stripe.StripeError as exc:
                failure = classify(exc, endpoint, stripe_object)
                elapsed = self._loop_time() - started
                if not isinstance(failure, TransientStripeError):
                    self._observer.on_call(endpoint, "error", elapsed)
                    raise failure from None
                outcome = "rate_limited" if failure.rate_limited else "transient"
                self._observer.on_call(endpoint, outcome, elapsed)
                attempt += 1
                if attempt >= self._retry.attempts:
                    raise failure from None
                delay = self._retry.delay(attempt, self._rng)
                if failure.rate_limited and failure.code != "lock_timeout":
                    self.limiter.pause(delay)  # everyone slows down, not just this task
                self._observer.on_backoff(endpoint, failure, delay)
                await asyncio.sleep(delay)
                continue
            self._observer.on_call(endpoint, "ok", self._loop_time() - started)
            return result

    # Customers

    async def create_customer(
        self, local_id: str, name: str, email: str, key: str
    ) -> StripeCustomer:
        obj = await self._call(
            "POST /v1/customers",
            lambda: self._v1.customers.create_async(
                {"name": name, "email": email, "metadata": {"billing_desk_customer": local_id}},
                {"idempotency_key": key},
            ),
            f"customer {local_id}",
        )
        return mapping.customer(obj)

    async def retrieve_customer(self, customer_id: str) -> StripeCustomer:
        obj = await self._call(
            "GET /v1/customers/{id}",
            lambda: self._v1.customers.retrieve_async(customer_id),
            customer_id,
        )
        return mapping.customer(obj)

    async def find_customers_by_email(self, email: str) -> list[StripeCustomer]:
        out: list[StripeCustomer] = []
        async for obj in self._pages(
            "GET /v1/customers",
            lambda after: self._v1.customers.list_async(_page({"email": email}, after)),
        ):
            out.append(mapping.customer(obj))
        return out

    # Invoice items

    async def create_invoice_item(
        self,
        *,
        customer: str,
        amount: int,
        currency: str,
        description: str,
        metadata: dict[str, str],
        invoice: str | None,
        key: str,
    ) -> StripeInvoiceItem:
        params: dict[str, Any] = {
            "customer": customer,
            "amount": amount,
            "currency": currency,
            "description": description,
            "metadata": metadata,
        }
        if invoice is not None:
            params["invoice"] = invoice
        obj = await self._call(
            "POST /v1/invoiceitems",
            lambda: self._v1.invoice_items.create_async(params, {"idempotency_key": key}),  # type: ignore[arg-type]
            f"invoice item for line {metadata.get('billing_desk_line')}",
        )
        return mapping.invoice_item(obj)

    async def update_invoice_item(
        self, item_id: str, *, amount: int, description: str, metadata: dict[str, str], key: str
    ) -> StripeInvoiceItem:
        obj = await self._call(
            "POST /v1/invoiceitems/{id}",
            lambda: self._v1.invoice_items.update_async(
                item_id,
                {"amount": amount, "description": description, "metadata": metadata},
                {"idempotency_key": key},
            ),
            item_id,
        )
        return mapping.invoice_item(obj)

    async def delete_invoice_item(self, item_id: str, key: str) -> None:
        await self._call(
            "DELETE /v1/invoiceitems/{id}",
            lambda: self._v1.invoice_items.delete_async(item_id, options={"idempotency_key": key}),
            item_id,
        )

    async def retrieve_invoice_item(self, item_id: str) -> StripeInvoiceItem:
        obj = await self._call(
            "GET /v1/invoiceitems/{id}",
            lambda: self._v1.invoice_items.retrieve_async(item_id),
            item_id,
        )
        return mapping.invoice_item(obj)

    async def list_invoice_items(self, customer: str) -> list[StripeInvoiceItem]:
        """Every invoice item of the customer, pending or on an invoice."""
        out: list[StripeInvoiceItem] = []
        async for obj in self._pages(
            "GET /v1/invoiceitems",
            lambda after: self._v1.invoice_items.list_async(_page({"customer": customer}, after)),
        ):
            out.append(mapping.invoice_item(obj))
        return out

    # Invoices

    async def create_invoice(
        self, *, customer: str, currency: str, metadata: dict[str, str], key: str
    ) -> StripeInvoice:
        obj = await self._call(
            "POST /v1/invoices",
            lambda: self._v1.invoices.create_async(
                {
                    "customer": customer,
                    "currency": currency,
                    "auto_advance": False,
                    "pending_invoice_items_behavior": "include",
                    "metadata": metadata,
                },
                {"idempotency_key": key},
            ),
            f"invoice of {customer}",
        )
        return mapping.invoice(obj)

    async def retrieve_invoice(self, invoice_id: str, *, with_lines: bool = True) -> StripeInvoice:
        """The invoice as Stripe has it now; with every line (all pages) unless told not to."""
        obj = await self._call(
            "GET /v1/invoices/{id}",
            lambda: self._v1.invoices.retrieve_async(invoice_id),
            invoice_id,
        )
        if not with_lines:
            return mapping.invoice(obj)
        embedded = mapping.embedded_lines(obj)
        if embedded is None:  # more lines than the invoice carries: page through them all
            embedded = await self.list_invoice_lines(invoice_id)
        return mapping.invoice(obj, embedded, complete=True)

    async def list_invoice_lines(self, invoice_id: str) -> tuple[StripeInvoiceLine, ...]:
        lines: list[StripeInvoiceLine] = []
        async for obj in self._pages(
            "GET /v1/invoices/{id}/lines",
            lambda after: self._v1.invoices.line_items.list_async(invoice_id, _page({}, after)),
        ):
            lines.append(mapping.invoice_line(obj))
        return tuple(lines)

    async def list_invoices(self, customer: str, status: str | None = None) -> list[StripeInvoice]:
        """The customer's invoices (without lines), newest first."""
        params: dict[str, Any] = {"customer": customer}
        if status is not None:
            params["status"] = status
        out: list[StripeInvoice] = []
        async for obj in self._pages(
            "GET /v1/invoices",
            lambda after: self._v1.invoices.list_async(_page(params, after)),
        ):
            out.append(mapping.invoice(obj))
        return out

    async def finalize_invoice(self, invoice_id: str, key: str) -> StripeInvoice:
        obj = await self._call(
            "POST /v1/invoices/{id}/finalize",
            lambda: self._v1.invoices.finalize_invoice_async(
                invoice_id, {"auto_advance": False}, {"idempotency_key": key}
            ),
            invoice_id,
        )
        return mapping.invoice(obj)

    async def void_invoice(self, invoice_id: str, key: str) -> StripeInvoice:
        obj = await self._call(
            "POST /v1/invoices/{id}/void",
            lambda: self._v1.invoices.void_invoice_async(
                invoice_id, options={"idempotency_key": key}
            ),
            invoice_id,
        )
        return mapping.invoice(obj)

    # Credit notes

    async def create_credit_note(
        self,
        *,
        invoice: str,
        amount: int,
        to_balance: bool,
        memo: str,
        metadata: dict[str, str],
        key: str,
        reason: str | None = None,
    ) -> StripeCreditNote:
        """A credit note of `amount` on `invoice`: reducing what is due (before payment), or
        (`to_balance`, after payment) credited to the customer's balance."""
        params: dict[str, Any] = {
            "invoice": invoice,
            "lines": [
                {
                    "type": "custom_line_item",
                    "description": memo[:500] or "Credit",
                    "quantity": 1,
                    "unit_amount": amount,
                }
            ],
            "memo": memo,
            "metadata": metadata,
        }
        if to_balance:
            params["credit_amount"] = amount
        if reason is not None:
            params["reason"] = reason
        obj = await self._call(
            "POST /v1/credit_notes",
            lambda: self._v1.credit_notes.create_async(params, {"idempotency_key": key}),  # type: ignore[arg-type]
            f"credit note on {invoice}",
        )
        return mapping.credit_note(obj)

    async def list_credit_notes(
        self, *, invoice: str | None = None, customer: str | None = None
    ) -> list[StripeCreditNote]:
        params: dict[str, Any] = {}
        if invoice is not None:
            params["invoice"] = invoice
        if customer is not None:
            params["customer"] = customer
        out: list[StripeCreditNote] = []
        async for obj in self._pages(
            "GET /v1/credit_notes",
            lambda after: self._v1.credit_notes.list_async(_page(params, after)),
        ):
            out.append(mapping.credit_note(obj))
        return out

    # Events

    async def list_events(
        self,
        *,
        types: list[str],
        created_gte: int | None = None,
        starting_after: str | None = None,
        ending_before: str | None = None,
        limit: int = PAGE,
    ) -> EventPage:
        """One page of events, newest first as Stripe lists them (the pull engine orders them)."""
        params: dict[str, Any] = {"types": types, "limit": limit}
        if created_gte is not None:
            params["created"] = {"gte": created_gte}
        if starting_after is not None:
            params["starting_after"] = starting_after
        if ending_before is not None:
            params["ending_before"] = ending_before
        page = await self._call(
            "GET /v1/events",
            lambda: self._v1.events.list_async(params),  # type: ignore[arg-type]
        )
        return EventPage(tuple(mapping.event(e) for e in page.data), bool(page.has_more))

    async def _pages(
        self, endpoint: str, fetch: Callable[[str | None], Awaitable[Any]]
    ) -> AsyncIterator[Any]:
        after: str | None = None
        while True:
            page = await self._call(endpoint, functools.partial(fetch, after))
            for obj in page.data:
                yield obj
            if not page.has_more or not page.data:
                return
            after = str(page.data[-1]["id"])


def _page(params: dict[str, Any], after: str | None) -> Any:
    out = {**params, "limit": PAGE}
    if after is not None:
        out["starting_after"] = after
    return out
