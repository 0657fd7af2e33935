"""Credit notes, customer balance transactions and customer search through stripe-python."""

from __future__ import annotations

from typing import Any

import pytest
import stripe

from tests.conftest import StripeSandbox


def _open_invoice(
    sandbox: StripeSandbox, *amounts: int, **customer: Any
) -> tuple[stripe.StripeClient, stripe.Invoice]:
    client = sandbox.client()
    cus = client.v1.customers.create(params={"name": "Credited", **customer})
    draft = client.v1.invoices.create(params={"customer": cus.id})
    for amount in amounts:
        client.v1.invoice_items.create(
            params={"customer": cus.id, "amount": amount, "currency": "usd", "invoice": draft.id}
        )
    return client, client.v1.invoices.finalize_invoice(draft.id)


def _refused(call: Any, param: str | None = None) -> str:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        call()
    assert raised.value.http_status == 400
    if param is not None:
        assert raised.value.param == param
    return str(raised.value.user_message)


def test_pre_payment_credit_reduces_what_is_owed(stripe_sandbox: StripeSandbox) -> None:
    client, invoice = _open_invoice(stripe_sandbox, 3000)
    note = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "amount": 1000, "reason": "duplicate", "memo": "oops"}
    )
    assert isinstance(note, stripe.CreditNote)
    assert (note.type, note.pre_payment_amount, note.post_payment_amount) == (
        "pre_payment",
        1000,
        0,
    )
    assert note.number == f"{invoice.number}-CN-01"
    assert note.status == "issued"
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.amount_due, after.amount_remaining, after.pre_payment_credit_notes_amount) == (
        2000,
        2000,
        1000,
    )
    voided = client.v1.credit_notes.void_credit_note(note.id)
    assert voided.status == "void"
    assert client.v1.invoices.retrieve(invoice.id).amount_remaining == 3000
    _refused(lambda: client.v1.credit_notes.void_credit_note(note.id))


def test_crediting_the_whole_remainder_marks_the_invoice_paid(
    stripe_sandbox: StripeSandbox,
) -> None:
    client, invoice = _open_invoice(stripe_sandbox, 1500)
    client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 1500})
    paid = client.v1.invoices.retrieve(invoice.id)
    assert (paid.status, paid.amount_remaining, paid.amount_paid) == ("paid", 0, 0)
    assert client.v1.events.list(params={"type": "invoice.paid"}).data[0].data.object["id"] == (
        invoice.id
    )


def test_post_payment_credit_must_be_split_as_stripe_requires(
    stripe_sandbox: StripeSandbox,
) -> None:
    client, invoice = _open_invoice(stripe_sandbox, 5000)
    customer = invoice.customer
    assert isinstance(customer, str)
    client.v1.invoices.pay(invoice.id)
    message = _refused(
        lambda: client.v1.credit_notes.create(params={"invoice": invoice.id, "amount": 800}),
        param="credit_amount",
    )
    assert "post-payment amount (800)" in message
    note = client.v1.credit_notes.create(
        params={
            "invoice": invoice.id,
            "amount": 800,
            "credit_amount": 500,
            "refund_amount": 200,
            "out_of_band_amount": 100,
        }
    )
    assert (note.type, note.post_payment_amount) == ("post_payment", 800)
    assert note.refunds[0].amount_refunded == 200
    assert note.out_of_band_amount == 100
    assert client.v1.customers.retrieve(customer).balance == -500
    txn = client.v1.customers.balance_transactions.retrieve(
        customer, note.customer_balance_transaction
    )
    assert (txn.type, txn.amount, txn.credit_note) == ("credit_note", -500, note.id)
    assert client.v1.invoices.retrieve(invoice.id).post_payment_credit_notes_amount == 800
    assert "refunds" in _refused(lambda: client.v1.credit_notes.void_credit_note(note.id))


def test_out_of_band_payments_cannot_be_refunded(stripe_sandbox: StripeSandbox) -> None:
    client, invoice = _open_invoice(stripe_sandbox, 1000)
    client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    _refused(
        lambda: client.v1.credit_notes.create(
            params={"invoice": invoice.id, "amount": 100, "refund_amount": 100}
        ),
        param="refund_amount",
    )
    note = client.v1.credit_notes.create(
        params={"invoice": invoice.id, "amount": 100, "credit_amount": 100}
    )
    voided = client.v1.credit_notes.void_credit_note(note.id)
    assert voided.status == "void"
    assert client.v1.customers.retrieve(note.customer).balance == 0


def test_mixed_credit_note_and_line_credits(stripe_sandbox: StripeSandbox) -> None:
    client, invoice = _open_invoice(stripe_sandbox, 1000, 2000)
    client.v1.invoices.pay(invoice.id, params={"paid_out_of_band": True})
    reopened_client, second = _open_invoice(stripe_sandbox, 600, 400)
    lines = second.lines.data
    preview = reopened_client.v1.credit_notes.preview(
        params={
            "invoice": second.id,
            "lines": [
                {"type": "invoice_line_item", "invoice_line_item": lines[0].id, "amount": 300},
                {"type": "custom_line_item", "description": "Goodwill", "unit_amount": 50},
            ],
        }
    )
    assert preview.amount == 350
    assert [line.type for line in preview.lines.data] == ["invoice_line_item", "custom_line_item"]
    assert reopened_client.v1.credit_notes.list(params={"invoice": second.id}).data == []
    previewed_lines = reopened_client.v1.credit_notes.preview_lines.list(
        params={"invoice": second.id, "amount": 50}
    )
    assert previewed_lines.data == []
    _refused(
        lambda: reopened_client.v1.credit_notes.create(
            params={
                "invoice": second.id,
                "lines": [
                    {"type": "invoice_line_item", "invoice_line_item": lines[1].id, "amount": 401}
                ],
            }
        ),
        param="lines[0][amount]",
    )
    note = reopened_client.v1.credit_notes.create(
        params={
            "invoice": second.id,
            "lines": [
                {"type": "invoice_line_item", "invoice_line_item": lines[1].id, "quantity": 1}
            ],
        }
    )
    assert note.amount == 400
    listed = reopened_client.v1.credit_notes.line_items.list(note.id)
    assert [line.invoice_line_item for line in listed.data] == [lines[1].id]
    # More than is left to credit on the invoice is refused.
    _refused(
        lambda: reopened_client.v1.credit_notes.create(
            params={"invoice": second.id, "amount": 700}
        ),
        param="amount",
    )
    updated = reopened_client.v1.credit_notes.update(note.id, params={"memo": "Line refund"})
    assert updated.memo == "Line refund"
    customer = second.customer
    assert isinstance(customer, str)
    by_customer = reopened_client.v1.credit_notes.list(params={"customer": customer})
    assert [n.id for n in by_customer.data] == [note.id]


def test_credit_notes_need_a_finalized_invoice(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    cus = client.v1.customers.create(params={"name": "Drafty"})
    draft = client.v1.invoices.create(params={"customer": cus.id})
    _refused(
        lambda: client.v1.credit_notes.create(params={"invoice": draft.id, "amount": 1}),
        param="invoice",
    )
    _refused(
        lambda: client.v1.credit_notes.create(params={"invoice": "in_missing", "amount": 1}),
        param="invoice",
    )


def test_balance_transactions(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    cus = client.v1.customers.create(params={"name": "Balanced", "balance": 250})
    txns = client.v1.customers.balance_transactions
    initial = txns.list(cus.id).data
    assert [(t.type, t.amount, t.ending_balance) for t in initial] == [("initial", 250, 250)]
    credit = txns.create(
        cus.id, params={"amount": -1000, "currency": "usd", "description": "Goodwill"}
    )
    assert isinstance(credit, stripe.CustomerBalanceTransaction)
    assert (credit.type, credit.ending_balance) == ("adjustment", -750)
    assert client.v1.customers.retrieve(cus.id).balance == -750
    assert txns.retrieve(cus.id, credit.id).description == "Goodwill"
    renamed = txns.update(cus.id, credit.id, params={"metadata": {"ticket": "T-1"}})
    assert renamed.metadata["ticket"] == "T-1"
    _refused(lambda: txns.create(cus.id, params={"amount": 5, "currency": "eur"}), param="currency")
    assert [t.id for t in txns.list(cus.id, params={"limit": 1}).data] == [credit.id]
    client.v1.customers.update(cus.id, params={"balance": 0})
    assert txns.list(cus.id).data[0].amount == 750


def test_customer_search_language(stripe_sandbox: StripeSandbox) -> None:
    client = stripe_sandbox.client()
    people = [
        ("Ada Lovelace", "ada@analytical.test", "acme-001"),
        ("Grace Hopper", "grace@cobol.test", "acme-002"),
        ("Alan Turing", "alan@bletchley.test", "acme-003"),
    ]
    ids = {
        local: client.v1.customers.create(
            params={"name": name, "email": email, "metadata": {"billing_desk_customer": local}}
        ).id
        for name, email, local in people
    }

    def found(query: str) -> set[str]:
        return {c.id for c in client.v1.customers.search(params={"query": query}).data}

    assert found("email:'GRACE@cobol.test'") == {ids["acme-002"]}
    assert found("name~'ace'") == {ids["acme-001"], ids["acme-002"]}
    assert found("metadata['billing_desk_customer']:'acme-003'") == {ids["acme-003"]}
    assert found("name~'Ada' OR name~'Alan'") == {ids["acme-001"], ids["acme-003"]}
    assert found("name~'Gra' AND -email:'grace@cobol.test'") == set()
    page = client.v1.customers.search(params={"query": "name~'ing' OR name~'ace'", "limit": 2})
    assert page.has_more is True
    rest = client.v1.customers.search(
        params={"query": "name~'ing' OR name~'ace'", "limit": 2, "page": page.next_page}
    )
    assert len(rest.data) == 1
    for bad in ("name~'ab'", "email:'x' AND name:'y' OR phone:'z'", "colour:'red'", "name:"):
        _refused(lambda bad=bad: client.v1.customers.search(params={"query": bad}), "query")
