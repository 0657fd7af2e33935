"""Invoices through stripe-python: the status machine, totals and balances, lines, limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import stripe

from tests.conftest import StripeSandbox


def _setup(sandbox: StripeSandbox, **customer: Any) -> tuple[stripe.StripeClient, str]:
    client = sandbox.client()
    created = client.v1.customers.create(params={"name": "Invoiced Co", **customer})
    return client, created.id


def _item(client: stripe.StripeClient, customer: str, amount: int, **extra: Any) -> str:
    params: Any = {"customer": customer, "amount": amount, "currency": "usd", **extra}
    return client.v1.invoice_items.create(params=params).id


def _refused(call: Any, *, param: str | None = None, code: str | None = None) -> str:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == 400
    if param is not None:
        assert raised.value.param == param
    if code is not None:
        assert raised.value.code == code
    return str(raised.value.user_message)


def test_draft_pulls_pending_items_only_when_asked(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    older = _item(client, customer, 1000)
    newer = _item(client, customer, 250)
    empty = client.v1.invoices.create(params={"customer": customer})
    assert (empty.status, empty.total, empty.lines.data) == ("draft", 0, [])
    assert empty.auto_advance is False
    draft = client.v1.invoices.create(
        params={
            "customer": customer,
            "pending_invoice_items_behavior": "include",
            "metadata": {"billing_desk_period": "2026-03"},
        }
    )
    # Stripe lists pending items pulled into a new invoice newest first.
    assert [line.parent.invoice_item_details.invoice_item for line in draft.lines.data] == [
        newer,
        older,
    ]
    assert isinstance(draft.lines.data[0], stripe.InvoiceLineItem)
    assert (draft.subtotal, draft.total, draft.amount_due, draft.amount_remaining) == (
        1250,
        1250,
        1250,
        1250,
    )
    assert draft.number is None
    assert draft.hosted_invoice_url is None
    assert client.v1.invoice_items.retrieve(older).invoice == draft.id


def test_finalize_numbers_and_opens(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox, invoice_prefix="ACME")
    for n in range(2):
        draft = client.v1.invoices.create(params={"customer": customer})
        _item(client, customer, 1500, invoice=draft.id)
        opened = client.v1.invoices.finalize_invoice(draft.id)
        assert opened.status == "open"
        assert opened.number == f"ACME-{n + 1:04d}"
        assert opened.status_transitions.finalized_at is not None
        assert opened.hosted_invoice_url.startswith(stripe_sandbox.url + "/_sandbox/hosted/")
        assert (opened.amount_due, opened.amount_remaining, opened.ending_balance) == (
            1500,
            1500,
            0,
        )
    assert client.v1.customers.retrieve(customer).next_invoice_sequence == 3
    message = _refused(lambda: client.v1.invoices.finalize_invoice(draft.id), param="invoice")
    assert "already finalized" in message


def test_customer_credit_is_applied_at_finalization(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    client.v1.customers.balance_transactions.create(
        customer, params={"amount": -700, "currency": "usd"}
    )
    draft = client.v1.invoices.create(params={"customer": customer})
    _item(client, customer, 1000, invoice=draft.id)
    assert client.v1.invoices.retrieve(draft.id).starting_balance == 0
    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert (opened.starting_balance, opened.ending_balance, opened.amount_due) == (-700, 0, 300)
    assert client.v1.customers.retrieve(customer).balance == 0
    applied = client.v1.customers.balance_transactions.list(customer).data[0]
    assert (applied.type, applied.amount, applied.invoice) == ("applied_to_invoice", 700, draft.id)
    # Voiding gives the credit back.
    client.v1.invoices.void_invoice(draft.id)
    assert client.v1.customers.retrieve(customer).balance == -700
    returned = client.v1.customers.balance_transactions.list(customer).data[0]
    assert (returned.type, returned.amount) == ("unapplied_from_invoice", -700)


def test_credit_covering_the_total_pays_the_invoice(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox, balance=-5000)
    draft = client.v1.invoices.create(params={"customer": customer})
    _item(client, customer, 1200, invoice=draft.id)
    paid = client.v1.invoices.finalize_invoice(draft.id)
    assert paid.status == "paid"
    assert (paid.amount_due, paid.amount_paid, paid.ending_balance) == (0, 0, -3800)
    assert client.v1.customers.retrieve(customer).balance == -3800


def test_debit_balance_is_added_and_tiny_amounts_are_carried(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox, balance=20)
    draft = client.v1.invoices.create(params={"customer": customer})
    _item(client, customer, 10, invoice=draft.id)
    small = client.v1.invoices.finalize_invoice(draft.id)
    # 30 cents is below Stripe's USD minimum charge: paid, and carried to the balance.
    assert (small.amount_due, small.status, small.amount_remaining) == (30, "paid", 0)
    assert client.v1.customers.retrieve(customer).balance == 30
    draft = client.v1.invoices.create(params={"customer": customer})
    _item(client, customer, 1000, invoice=draft.id)
    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert (opened.starting_balance, opened.amount_due, opened.status) == (30, 1030, "open")


def test_negative_total_leaves_credit_on_the_customer(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    draft = client.v1.invoices.create(params={"customer": customer})
    _item(client, customer, 300, invoice=draft.id)
    _item(client, customer, -800, invoice=draft.id)
    assert client.v1.invoices.retrieve(draft.id).total == -500
    done = client.v1.invoices.finalize_invoice(draft.id)
    assert (done.amount_due, done.ending_balance, done.status) == (0, -500, "paid")
    assert client.v1.customers.retrieve(customer).balance == -500


def test_status_machine_refuses_every_forbidden_move(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    draft = client.v1.invoices.create(params={"customer": customer})
    item = _item(client, customer, 900, invoice=draft.id)
    assert "Delete the draft" in _refused(lambda: client.v1.invoices.void_invoice(draft.id))
    assert "Finalize it first" in _refused(lambda: client.v1.invoices.pay(draft.id))
    _refused(lambda: client.v1.invoices.mark_uncollectible(draft.id))
    client.v1.invoices.finalize_invoice(draft.id)
    assert "Void it instead" in _refused(lambda: client.v1.invoices.delete(draft.id))
    not_editable = "invoice_not_editable"
    to_send: Any = {"collection_method": "send_invoice", "days_until_due": 3}
    _refused(lambda: client.v1.invoices.update(draft.id, params=to_send), code=not_editable)
    _refused(lambda: _item(client, customer, 5, invoice=draft.id), code=not_editable)
    _refused(lambda: client.v1.invoice_items.update(item, params={"amount": 1}), code=not_editable)
    _refused(lambda: client.v1.invoice_items.delete(item), code=not_editable)
    _refused(
        lambda: client.v1.invoices.add_lines(draft.id, params={"lines": [{"amount": 5}]}),
        code=not_editable,
    )
    # Non-monetary fields stay editable on an open invoice.
    described = client.v1.invoices.update(
        draft.id, params={"description": "Thanks!", "metadata": {"k": "v"}}
    )
    assert described.description == "Thanks!"
    uncollectible = client.v1.invoices.mark_uncollectible(draft.id)
    assert uncollectible.status == "uncollectible"
    _refused(lambda: client.v1.invoices.mark_uncollectible(draft.id))
    paid = client.v1.invoices.pay(draft.id, params={"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 900, 0)
    assert "already paid" in _refused(lambda: client.v1.invoices.pay(draft.id))
    _refused(lambda: client.v1.invoices.void_invoice(draft.id))
    voidable = client.v1.invoices.create(params={"customer": customer})
    _item(client, customer, 100, invoice=voidable.id)
    client.v1.invoices.finalize_invoice(voidable.id)
    voided = client.v1.invoices.void_invoice(voidable.id)
    assert voided.status == "void"
    assert voided.status_transitions.voided_at is not None
    _refused(lambda: client.v1.invoices.pay(voidable.id))
    _refused(lambda: client.v1.invoices.update(voidable.id, params={"description": "x"}))


def test_deleting_a_draft_deletes_its_items(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    draft = client.v1.invoices.create(params={"customer": customer})
    item = _item(client, customer, 100, invoice=draft.id)
    assert client.v1.invoices.delete(draft.id).deleted is True
    for call in (
        lambda: client.v1.invoices.retrieve(draft.id),
        lambda: client.v1.invoice_items.retrieve(item),
    ):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            call()
        assert raised.value.http_status == 404


def test_lines_can_be_added_updated_and_removed_on_drafts(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    pending = _item(client, customer, 400)
    draft = client.v1.invoices.create(params={"customer": customer})
    added = client.v1.invoices.add_lines(
        draft.id,
        params={
            "lines": [
                {"invoice_item": pending},
                {"amount": 1000, "description": "Compute", "metadata": {"billing_desk_line": "7"}},
                {
                    "quantity_decimal": "1.5",
                    "price_data": {
                        "currency": "usd",
                        "product_data": {"name": "Storage GB"},
                        "unit_amount_decimal": "33.3",
                    },
                },
            ],
            "invoice_metadata": {"billing_desk_period": "2026-04"},
        },
    )
    assert added.total == 400 + 1000 + 50  # 49.95 rounds to 50
    assert added.metadata["billing_desk_period"] == "2026-04"
    lines = added.lines.data
    assert lines[2].description == "Storage GB"
    assert lines[2].pricing.unit_amount_decimal == Decimal("33.3")
    updated = client.v1.invoices.update_lines(
        draft.id, params={"lines": [{"id": lines[1].id, "amount": 1200}]}
    )
    assert updated.total == 1650
    one = client.v1.invoices.line_items.update(
        draft.id, lines[0].id, params={"description": "Pending, renamed"}
    )
    assert isinstance(one, stripe.InvoiceLineItem)
    assert one.description == "Pending, renamed"
    removed = client.v1.invoices.remove_lines(
        draft.id,
        params={
            "lines": [
                {"id": lines[0].id, "behavior": "unassign"},
                {"id": lines[2].id, "behavior": "delete"},
            ]
        },
    )
    assert [line.id for line in removed.lines.data] == [lines[1].id]
    assert client.v1.invoice_items.retrieve(pending).invoice is None
    # A failing line changes nothing: the request is all or nothing.
    _refused(
        lambda: client.v1.invoices.update_lines(
            draft.id,
            params={"lines": [{"id": lines[1].id, "amount": 1}, {"id": "il_nope", "amount": 2}]},
        ),
        param="lines[1][id]",
    )
    assert client.v1.invoices.retrieve(draft.id).total == 1200


def test_lines_list_pages_in_invoice_order(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    draft = client.v1.invoices.create(params={"customer": customer})
    client.v1.invoices.add_lines(draft.id, params={"lines": [{"amount": n + 1} for n in range(14)]})
    invoice = client.v1.invoices.retrieve(draft.id)
    assert len(invoice.lines.data) == 10
    assert invoice.lines.has_more is True
    every = list(
        client.v1.invoices.line_items.list(draft.id, params={"limit": 4}).auto_paging_iter()
    )
    assert [line.amount for line in every] == list(range(1, 15))


def test_an_invoice_holds_at_most_250_items(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    draft = client.v1.invoices.create(params={"customer": customer})
    client.v1.invoices.add_lines(draft.id, params={"lines": [{"amount": 1}] * 125})
    full = client.v1.invoices.add_lines(draft.id, params={"lines": [{"amount": 1}] * 125})
    assert full.total == 250
    message = _refused(lambda: _item(client, customer, 1, invoice=draft.id), param="invoice")
    assert "at most 250" in message
    _refused(lambda: client.v1.invoices.add_lines(draft.id, params={"lines": [{"amount": 1}]}))
    # 251 pending items (250 unassigned from the draft, one more) can't make one invoice.
    lines = client.v1.invoices.line_items.list(draft.id, params={"limit": 100}).auto_paging_iter()
    unassign: Any = {"lines": [{"id": line.id, "behavior": "unassign"} for line in lines]}
    assert client.v1.invoices.remove_lines(draft.id, params=unassign).total == 0
    _item(client, customer, 1)
    _refused(
        lambda: client.v1.invoices.create(
            params={"customer": customer, "pending_invoice_items_behavior": "include"}
        ),
        param="pending_invoice_items_behavior",
    )


def test_auto_advance_drafts_finalize_on_the_sandbox_clock(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    draft = client.v1.invoices.create(params={"customer": customer, "auto_advance": True})
    assert draft.automatically_finalizes_at == draft.created + 3600
    _item(client, customer, 5000, invoice=draft.id)
    manual = client.v1.invoices.create(params={"customer": customer})
    assert manual.automatically_finalizes_at is None
    stripe_sandbox.admin.advance_clock(3601)
    assert client.v1.invoices.retrieve(draft.id).status == "open"
    assert client.v1.invoices.retrieve(manual.id).status == "draft"
    assert client.v1.events.list(params={"type": "invoice.finalized"}).data[0].request.id is None


def test_list_filters_expand_and_search(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox, email="ap@search.test")
    _, other = _setup(stripe_sandbox)
    mine = client.v1.invoices.create(
        params={"customer": customer, "metadata": {"billing_desk_period": "2026-05"}}
    )
    theirs = client.v1.invoices.create(params={"customer": other})
    _item(client, customer, 100, invoice=mine.id)
    client.v1.invoices.finalize_invoice(mine.id)
    assert [i.id for i in client.v1.invoices.list(params={"customer": customer}).data] == [mine.id]
    assert [i.id for i in client.v1.invoices.list(params={"status": "draft"}).data] == [theirs.id]
    created = client.v1.invoices.list(params={"created": {"gte": mine.created}})
    assert {i.id for i in created.data} == {mine.id, theirs.id}
    expanded = client.v1.invoices.list(params={"expand": ["data.customer"], "customer": customer})
    assert expanded.data[0].customer.email == "ap@search.test"
    one = client.v1.invoices.retrieve(mine.id, params={"expand": ["customer"]})
    assert isinstance(one.customer, stripe.Customer)
    _refused(
        lambda: client.v1.invoices.retrieve(mine.id, params={"expand": ["total"]}), param="expand"
    )
    found = client.v1.invoices.search(
        params={"query": f"metadata['billing_desk_period']:'2026-05' AND customer:'{customer}'"}
    )
    assert [i.id for i in found.data] == [mine.id]
    assert client.v1.invoices.search(params={"query": "status:'open'"}).data[0].id == mine.id


def test_create_preview_shows_what_finalizing_would_bill(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox, balance=-100)
    _item(client, customer, 1000)
    preview = client.v1.invoices.create_preview(
        params={"customer": customer, "invoice_items": [{"amount": 250, "description": "Extra"}]}
    )
    assert preview.id.startswith("upcoming_in_")
    assert (preview.total, preview.starting_balance, preview.amount_due) == (1250, -100, 1150)
    assert [line.amount for line in preview.lines.data] == [1000, 250]
    assert client.v1.invoices.list(params={"customer": customer}).data == []


def test_a_refused_update_changes_nothing(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox, email="before@update.test")
    draft = client.v1.invoices.create(params={"customer": customer, "description": "Kept"})
    _refused(
        lambda: client.v1.invoices.update(
            draft.id, params={"description": "Lost", "collection_method": "send_invoice"}
        ),
        param="days_until_due",
    )
    assert client.v1.invoices.retrieve(draft.id).description == "Kept"
    _refused(
        lambda: client.v1.customers.update(
            customer, params={"email": "after@update.test", "next_invoice_sequence": 0}
        ),
        param="next_invoice_sequence",
    )
    assert client.v1.customers.retrieve(customer).email == "before@update.test"
    listed = client.v1.customers.list(params={"email": "before@update.test"})
    assert [c.id for c in listed.data] == [customer]
    assert client.v1.customers.list(params={"email": "after@update.test"}).data == []


def test_passing_the_due_date_makes_the_customer_delinquent(stripe_sandbox: StripeSandbox) -> None:
    client, customer = _setup(stripe_sandbox)
    draft = client.v1.invoices.create(
        params={"customer": customer, "collection_method": "send_invoice", "days_until_due": 3}
    )
    _item(client, customer, 2000, invoice=draft.id)
    opened = client.v1.invoices.finalize_invoice(draft.id)
    assert opened.due_date == opened.status_transitions.finalized_at + 3 * 86400
    stripe_sandbox.admin.advance_clock(3 * 86400 - 60)
    assert client.v1.customers.retrieve(customer).delinquent is False
    stripe_sandbox.admin.advance_clock(120)
    assert client.v1.customers.retrieve(customer).delinquent is True
    overdue = client.v1.events.list(params={"type": "invoice.overdue"}).data
    assert [e.data.object["id"] for e in overdue] == [draft.id]
    client.v1.invoices.pay(draft.id, params={"paid_out_of_band": True})
    assert client.v1.customers.retrieve(customer).delinquent is False
