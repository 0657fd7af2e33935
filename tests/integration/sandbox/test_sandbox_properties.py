"""Properties: the invoice status machine against a model of Stripe's rules, cursor
pagination against a plain list, and balance application's conservation of money."""

from __future__ import annotations

from typing import Any

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from billing_desk.sandbox.ordered import OrderedIds
from billing_desk.sandbox.resources.totals import apply_balance
from billing_desk.sandbox.server import SandboxServer
from billing_desk.sandbox.testing import new_test_key

# What each action does from each status (absent: Stripe refuses it with a 400).
MOVES = {
    "finalize": {"draft": "open"},
    "void": {"open": "void", "uncollectible": "void"},
    "pay": {"open": "paid", "uncollectible": "paid"},
    "mark_uncollectible": {"open": "uncollectible"},
    "delete": {"draft": "deleted"},
    "add_line": {"draft": "draft"},
}


def _act(client: stripe.StripeClient, invoice: str, action: str) -> Any:
    v1 = client.v1.invoices
    calls = {
        "finalize": lambda: v1.finalize_invoice(invoice),
        "void": lambda: v1.void_invoice(invoice),
        "pay": lambda: v1.pay(invoice, params={"paid_out_of_band": True}),
        "mark_uncollectible": lambda: v1.mark_uncollectible(invoice),
        "delete": lambda: v1.delete(invoice),
        "add_line": lambda: v1.add_lines(invoice, params={"lines": [{"amount": 700}]}),
    }
    return calls[action]()


@settings(max_examples=25, deadline=None)
@given(actions=st.lists(st.sampled_from(sorted(MOVES)), min_size=1, max_size=6))
def test_the_status_machine_follows_stripes_rules(
    sandbox_server: SandboxServer, actions: list[str]
) -> None:
    client = stripe.StripeClient(
        new_test_key(), base_addresses={"api": sandbox_server.url}, max_network_retries=0
    )
    customer = client.v1.customers.create(params={"name": "Model"}).id
    invoice = client.v1.invoices.create(params={"customer": customer}).id
    client.v1.invoices.add_lines(invoice, params={"lines": [{"amount": 1000}]})
    status = "draft"
    for action in actions:
        expected = MOVES[action].get(status)
        if status == "deleted":
            expected = None
        if expected is None:
            with pytest.raises(stripe.InvalidRequestError) as refused:
                _act(client, invoice, action)
            assert refused.value.http_status in (400, 404), (status, action)
            continue
        _act(client, invoice, action)
        status = expected
        if status != "deleted":
            assert client.v1.invoices.retrieve(invoice).status == status


@settings(max_examples=200)
@given(
    size=st.integers(0, 40),
    removed=st.sets(st.integers(0, 39)),
    limit=st.integers(1, 12),
    cursor=st.integers(0, 39),
    newest_first=st.booleans(),
    backwards=st.booleans(),
)
def test_pages_match_a_plain_list(
    size: int, removed: set[int], limit: int, cursor: int, newest_first: bool, backwards: bool
) -> None:
    ids = OrderedIds()
    for n in range(size):
        ids.add(f"o{n}")
    for n in removed:
        ids.remove(f"o{n}")
    live = [f"o{n}" for n in range(size) if n not in removed]
    ordered = live[::-1] if newest_first else live
    assert len(ids) == len(live)
    if not ordered:
        assert ids.page(limit, newest_first=newest_first) == ([], False)
        return
    anchor = ordered[cursor % len(ordered)]
    at = ordered.index(anchor)
    if backwards:
        page, more = ids.page(limit, ending_before=anchor, newest_first=newest_first)
        assert page == ordered[max(0, at - limit) : at]
        assert more == (at - limit > 0)
    else:
        page, more = ids.page(limit, starting_after=anchor, newest_first=newest_first)
        assert page == ordered[at + 1 : at + 1 + limit]
        assert more == (at + 1 + limit < len(ordered))


@given(total=st.integers(-(10**9), 10**9), balance=st.integers(-(10**9), 10**9))
def test_balance_application_conserves_money(total: int, balance: int) -> None:
    invoice = {"total": total}
    left = apply_balance(invoice, balance)
    assert invoice["amount_due"] >= 0
    assert left == invoice["ending_balance"] <= 0
    # What was owed plus the balance is either due now or stays on the customer.
    assert total + balance == invoice["amount_due"] + left
    assert invoice["amount_remaining"] == invoice["amount_due"]
