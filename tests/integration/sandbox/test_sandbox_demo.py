"""`--seed demo`: a believable account whose customers `demo_customers()` describes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import stripe

from billing_desk.sandbox import DEMO_API_KEY, SandboxServer, demo_customers


@pytest.fixture(scope="module")
def demo() -> Iterator[stripe.StripeClient]:
    with SandboxServer(seed="demo", random_seed=99) as server:
        yield stripe.StripeClient(
            DEMO_API_KEY, base_addresses={"api": server.url}, max_network_retries=0
        )


def test_demo_customers_match_the_seeded_account(demo: stripe.StripeClient) -> None:
    expected = demo_customers()
    assert len(expected) >= 40
    assert len({c["id"] for c in expected}) == len(expected)
    assert all(
        set(c) == {"id", "name", "email", "currency", "stripe_customer_id"} for c in expected
    )
    served = {c.id: c for c in demo.v1.customers.list(params={"limit": 100}).auto_paging_iter()}
    assert set(served) == {c["stripe_customer_id"] for c in expected}
    for local in expected:
        customer = served[local["stripe_customer_id"]]
        assert customer.metadata["billing_desk_customer"] == local["id"]
        assert (customer.name, customer.email, customer.currency) == (
            local["name"],
            local["email"],
            local["currency"],
        )


def test_demo_has_invoices_in_every_state_credit_notes_and_balances(
    demo: stripe.StripeClient,
) -> None:
    invoices = list(demo.v1.invoices.list(params={"limit": 100}).auto_paging_iter())
    states = Counter(i.status for i in invoices)
    assert set(states) == {"draft", "open", "paid", "void", "uncollectible"}
    assert all(i.metadata["billing_desk_period"] for i in invoices)
    notes = list(demo.v1.credit_notes.list(params={"limit": 100}).auto_paging_iter())
    assert {n.type for n in notes} == {"pre_payment", "post_payment"}
    customers = list(demo.v1.customers.list(params={"limit": 100}).auto_paging_iter())
    assert any(c.balance < 0 for c in customers)
    assert any(c.balance > 0 for c in customers)
    assert len({c.currency for c in customers}) >= 3
    pending = demo.v1.invoice_items.list(params={"pending": True, "limit": 100})
    assert pending.data
    # Stripe lists newest first; the seeded history spans the last three months.
    created = [i.created for i in invoices]
    assert created == sorted(created, reverse=True)
    assert created[0] - created[-1] > 50 * 86400


def test_demo_ids_do_not_depend_on_the_random_seed(demo: stripe.StripeClient) -> None:
    with SandboxServer(seed="demo", random_seed=1) as other:
        client = stripe.StripeClient(
            DEMO_API_KEY, base_addresses={"api": other.url}, max_network_retries=0
        )
        ids = {c.id for c in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()}
    assert ids == {c["stripe_customer_id"] for c in demo_customers()}
