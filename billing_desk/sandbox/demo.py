"""The demo account (`--seed demo`, key `DEMO_API_KEY`): a believable Stripe account.

Everything is created through the API's own validation and handlers (`Sandbox.local`), over
the three months before the sandbox clock's "now" (objects are back-dated by moving that
account's clock), so totals, balances, numbers and events are all consistent.

42 customers, each with `metadata.billing_desk_customer` = its local id (`demo_customers()`
lists them for the demo workspace's local store). Customer n (0-based) follows story
`STORIES[n % 6]`, over the periods two months ago (P-2), last month (P-1) and this month (P):

| n % 6 | story                                                                          |
|-------|--------------------------------------------------------------------------------|
| 0     | P-2 paid (card), P-1 paid (out of band), P open                                 |
| 1     | P-2 paid, P-1 paid, P draft (the month being closed)                             |
| 2     | P-2 uncollectible, P-1 open and past due (send_invoice)                          |
| 3     | P-2 paid, P-1 void, P open (the re-issue)                                      |
| 4     | P-2 paid then credited after payment (to the customer's balance), P draft        |
| 5     | P-1 open with a pre-payment credit note, P pending items (no invoice yet)        |

Balances: every seventh customer (n % 7 == 3) got a 15.00 goodwill credit before P-1, which
finalization applied; customers with n % 11 == 5 owe an 8.00 late fee from this month, which
their next finalized invoice will add. Story 4 leaves credit on the customer's balance.
Currencies: usd, except eur for n % 8 == 2, gbp for n % 8 == 6, and jpy for n == 13.
Every invoice carries `metadata.billing_desk_period` (YYYY-MM).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing_desk.sandbox.sandbox import AccountRuntime, Sandbox

DEMO_API_KEY = "sk_test_billingdeskdemo0000000000000000"
_DEMO_RNG_SEED = 20261028  # fixed, so demo ids do not depend on --random-seed

STORIES = (
    "paid, paid, open",
    "paid, paid, draft",
    "uncollectible, open past due",
    "paid, void, open re-issue",
    "paid then credited to balance, draft",
    "open with pre-payment credit note, pending items",
)

_COMPANIES = (
    "Acme Rockets", "Blue Harbor Analytics", "Cobalt Freight", "Driftwood Studios",
    "Evergreen Clinics", "Foxglove Bakery", "Granite Peak Outfitters", "Helios Solar",
    "Ironbark Legal", "Juniper Health", "Kestrel Aviation", "Lumen Labs", "Meridian Tea",
    "Nimbus Hosting", "Oakline Furniture", "Pioneer Robotics", "Quarry Lane Books",
    "Riverstone Dental", "Saffron Kitchens", "Tidewater Marine", "Umbra Security",
    "Vantage Realty", "Willow & Finch", "Xylo Music", "Yardley Gardens", "Zephyr Cycles",
    "Amberly Hotels", "Brightwater Schools", "Cedar & Stone", "Delta Logistics",
    "Ember Coffee", "Fjord Fisheries", "Golden Mile Motors", "Harborview Vets",
    "Indigo Print Co", "Jetstream Travel", "Kindred Pets", "Larkspur Florists",
    "Mosaic Media", "Northwind Traders", "Orchid Spa", "Paloma Apparel",
)  # fmt: skip

# (description, unit amount in minor units as a decimal string, quantity range)
_USAGE = (
    ("API requests", "0.2", (20_000, 400_000)),
    ("Storage (GB-month)", "2.3", (50, 4_000)),
    ("Active seats", "1500", (2, 40)),
    ("SMS messages", "0.75", (100, 30_000)),
    ("Support plan", "9900", (1, 1)),
)


def _currency(n: int) -> str:
    if n == 13:
        return "jpy"
    return {2: "eur", 6: "gbp"}.get(n % 8, "usd")


def _local_id(n: int) -> str:
    word = "".join(ch for ch in _COMPANIES[n].split()[0].lower() if ch.isalnum())
    return f"{word}-{n + 1:03d}"


def _email(n: int) -> str:
    slug = "".join(ch for ch in _COMPANIES[n].lower() if ch.isalnum())
    return f"billing@{slug}.example"


def _moment(now: datetime, months_ago: int, days: float = 0.0) -> float:
    """Seconds from `now` back to day 2 (+ `days`) of a past month (never in the future)."""
    year, month = now.year, now.month - months_ago
    while month < 1:
        year, month = year - 1, month + 12
    start = datetime(year, month, 2, 9, 0, tzinfo=UTC) + timedelta(days=days)
    return min(0.0, (start - now).total_seconds())


def _period(now: datetime, months_ago: int) -> str:
    year, month = now.year, now.month - months_ago
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"


# A story is a generator: it yields the moment (seconds before now) its next steps happen at,
# so the seeder can interleave all customers' steps in time order, as they would have happened.
Story = Generator[float, None, None]


class _Seeder:
    def __init__(self, sandbox: Sandbox, rt: AccountRuntime) -> None:
        self.sandbox = sandbox
        self.rt = rt
        self.now = datetime.fromtimestamp(sandbox.now(rt), UTC)

    def run(self, stories: list[Story]) -> None:
        queue: list[tuple[float, int, Story]] = []
        for n, story in enumerate(stories):
            heapq.heappush(queue, (next(story), n, story))
        while queue:
            moment, n, story = heapq.heappop(queue)
            self.rt.clock_offset = moment
            upcoming = next(story, None)
            if upcoming is not None:
                heapq.heappush(queue, (max(moment, upcoming), n, story))

    def when(self, months_ago: int, days: float = 0.0) -> float:
        return _moment(self.now, months_ago, days)

    def call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.sandbox.local(self.rt, method, path, params or {})

    def items(self, rng: random.Random, customer: str, currency: str, invoice: str | None) -> None:
        for description, unit, (low, high) in rng.sample(_USAGE, k=rng.randint(2, 4)):
            if currency == "jpy":  # no minor unit: whole yen per unit
                unit = str(max(1, round(float(unit))))
            params: dict[str, Any] = {
                "customer": customer,
                "currency": currency,
                "description": description,
                "quantity": rng.randint(low, high),
                "unit_amount_decimal": unit,
            }
            if invoice:
                params["invoice"] = invoice
            self.call("POST", "/v1/invoiceitems", params)

    def draft(
        self, rng: random.Random, customer: str, currency: str, months_ago: int, *, send: bool
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "customer": customer,
            "currency": currency,
            "auto_advance": False,
            "metadata": {"billing_desk_period": _period(self.now, months_ago)},
        }
        if send:
            params.update(collection_method="send_invoice", days_until_due=14)
        draft: dict[str, Any] = self.call("POST", "/v1/invoices", params)
        self.items(rng, customer, currency, draft["id"])
        return draft

    def invoice(
        self,
        rng: random.Random,
        customer: str,
        currency: str,
        months_ago: int,
        out: dict[str, Any],
        *,
        finalize: bool = True,
        send: bool = False,
    ) -> Story:
        """Draft at the start of the period, finalized near its end; the result into `out`."""
        yield self.when(months_ago)
        out.update(self.draft(rng, customer, currency, months_ago, send=send))
        if finalize:
            yield self.when(months_ago, days=27)
            out.update(self.call("POST", f"/v1/invoices/{out['id']}/finalize"))

    def pay(self, invoice: dict[str, Any], months_ago: int, *, out_of_band: bool = False) -> Story:
        yield self.when(months_ago, days=29)
        if invoice["status"] == "open":
            params = {"paid_out_of_band": True} if out_of_band else {}
            invoice.update(self.call("POST", f"/v1/invoices/{invoice['id']}/pay", params))

    def customer(self, n: int) -> Story:
        rng = random.Random(f"demo-{n}")
        currency = _currency(n)
        yield self.when(3)
        customer = self.call(
            "POST",
            "/v1/customers",
            {
                "name": _COMPANIES[n],
                "email": _email(n),
                "metadata": {"billing_desk_customer": _local_id(n)},
                "preferred_locales": ["en"],
            },
        )["id"]
        if n % 7 == 3:
            yield self.when(2, days=15)
            self.call(
                "POST",
                f"/v1/customers/{customer}/balance_transactions",
                {"amount": -1500, "currency": currency, "description": "Goodwill credit"},
            )
        yield from self.story(n % 6, rng, customer, currency)
        if n % 11 == 5:
            yield self.when(0, days=2)
            self.call(
                "POST",
                f"/v1/customers/{customer}/balance_transactions",
                {"amount": 800, "currency": currency, "description": "Late fee"},
            )

    def story(self, kind: int, rng: random.Random, customer: str, currency: str) -> Story:
        first: dict[str, Any] = {}
        second: dict[str, Any] = {}
        third: dict[str, Any] = {}
        if kind == 0:
            yield from self.invoice(rng, customer, currency, 2, first)
            yield from self.pay(first, 2)
            yield from self.invoice(rng, customer, currency, 1, second)
            yield from self.pay(second, 1, out_of_band=True)
            yield from self.invoice(rng, customer, currency, 0, third)
        elif kind == 1:
            yield from self.invoice(rng, customer, currency, 2, first)
            yield from self.pay(first, 2)
            yield from self.invoice(rng, customer, currency, 1, second)
            yield from self.pay(second, 1)
            yield from self.invoice(rng, customer, currency, 0, third, finalize=False)
        elif kind == 2:
            yield from self.invoice(rng, customer, currency, 2, first)
            yield self.when(1, days=20)
            if first["status"] == "open":
                self.call("POST", f"/v1/invoices/{first['id']}/mark_uncollectible")
            yield from self.invoice(rng, customer, currency, 1, second, send=True)
        elif kind == 3:
            yield from self.invoice(rng, customer, currency, 2, first)
            yield from self.pay(first, 2)
            yield from self.invoice(rng, customer, currency, 1, second)
            yield self.when(1, days=28)
            if second["status"] == "open":
                self.call("POST", f"/v1/invoices/{second['id']}/void")
            yield from self.invoice(rng, customer, currency, 0, third)
        elif kind == 4:
            yield from self.invoice(rng, customer, currency, 2, first)
            yield from self.pay(first, 2)
            yield self.when(1, days=3)
            credit = min(2500, first["total"] // 5)
            if first["status"] == "paid" and credit > 0:
                self.call(
                    "POST",
                    "/v1/credit_notes",
                    {
                        "invoice": first["id"],
                        "amount": credit,
                        "credit_amount": credit,
                        "reason": "order_change",
                        "memo": "Service outage on the 14th",
                    },
                )
            yield from self.invoice(rng, customer, currency, 0, third, finalize=False)
        else:
            yield from self.invoice(rng, customer, currency, 1, second)
            yield self.when(0, days=1)
            line = second["lines"]["data"][0]
            if second["status"] == "open":
                self.call(
                    "POST",
                    "/v1/credit_notes",
                    {
                        "invoice": second["id"],
                        "reason": "duplicate",
                        "lines": [
                            {
                                "type": "invoice_line_item",
                                "invoice_line_item": line["id"],
                                "amount": max(1, line["amount"] // 4),
                            }
                        ],
                    },
                )
            self.items(rng, customer, currency, None)


def seed_demo(sandbox: Sandbox) -> None:
    """Fill the demo account (ids are the same on every run, whatever `--random-seed`)."""
    rt = sandbox.runtime_for_key(DEMO_API_KEY)
    rt.account.rng.seed(_DEMO_RNG_SEED)
    seeder = _Seeder(sandbox, rt)
    try:
        seeder.run([seeder.customer(n) for n in range(len(_COMPANIES))])
    finally:
        rt.clock_offset = 0.0


@cache
def _demo_customers() -> tuple[tuple[str, str, str, str, str], ...]:
    from billing_desk.sandbox.sandbox import Sandbox

    scratch = Sandbox(random_seed=0, seed="demo")
    scratch.open(scratch.base_url)
    objects = scratch.runtime_for_key(DEMO_API_KEY).account.objects
    by_local = {
        o["metadata"]["billing_desk_customer"]: o
        for o in objects.values()
        if o.get("object") == "customer" and not o.get("deleted")
    }
    return tuple(
        (
            _local_id(n),
            _COMPANIES[n],
            _email(n),
            _currency(n),
            by_local[_local_id(n)]["id"],
        )
        for n in range(len(_COMPANIES))
    )


def demo_customers() -> list[dict[str, Any]]:
    """The demo account's customers as the local store imports them (CONTRACT.md columns):
    `id` (local), `name`, `email`, `currency`, `stripe_customer_id`."""
    keys = ("id", "name", "email", "currency", "stripe_customer_id")
    return [dict(zip(keys, row, strict=True)) for row in _demo_customers()]
