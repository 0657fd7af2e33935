"""The sandbox through stripe-python's async client (httpx), across every endpoint."""

from __future__ import annotations

import asyncio

import stripe

from tests.conftest import StripeSandbox


async def _every_endpoint(client: stripe.StripeClient) -> None:
    v1 = client.v1
    cus = await v1.customers.create_async(
        params={"name": "Async Ltd", "email": "a@async.test", "metadata": {"k": "v"}}
    )
    assert (await v1.customers.retrieve_async(cus.id)).email == "a@async.test"
    assert (await v1.customers.update_async(cus.id, params={"name": "Async plc"})).name == (
        "Async plc"
    )
    assert [c.id for c in (await v1.customers.list_async()).data] == [cus.id]
    found = await v1.customers.search_async(params={"query": "metadata['k']:'v'"})
    assert [c.id for c in found.data] == [cus.id]
    txns = v1.customers.balance_transactions
    txn = await txns.create_async(cus.id, params={"amount": -300, "currency": "usd"})
    assert (await txns.retrieve_async(cus.id, txn.id)).amount == -300
    assert (await txns.update_async(cus.id, txn.id, params={"description": "d"})).description
    assert len((await txns.list_async(cus.id)).data) == 1

    item = await v1.invoice_items.create_async(
        params={"customer": cus.id, "amount": 2000, "currency": "usd"}
    )
    assert (await v1.invoice_items.retrieve_async(item.id)).amount == 2000
    assert (await v1.invoice_items.update_async(item.id, params={"amount": 2500})).amount == 2500
    assert len((await v1.invoice_items.list_async(params={"pending": True})).data) == 1
    preview = await v1.invoices.create_preview_async(params={"customer": cus.id})
    assert preview.amount_due == 2200

    draft = await v1.invoices.create_async(
        params={"customer": cus.id, "pending_invoice_items_behavior": "include"}
    )
    assert (await v1.invoices.retrieve_async(draft.id)).total == 2500
    await v1.invoices.update_async(draft.id, params={"footer": "Thanks"})
    added = await v1.invoices.add_lines_async(draft.id, params={"lines": [{"amount": 500}]})
    new_line = added.lines.data[-1]
    await v1.invoices.update_lines_async(
        draft.id, params={"lines": [{"id": new_line.id, "amount": 700}]}
    )
    await v1.invoices.line_items.update_async(draft.id, new_line.id, params={"amount": 800})
    lines = await v1.invoices.line_items.list_async(draft.id)
    assert [line.amount for line in lines.data] == [2500, 800]
    removed = await v1.invoices.remove_lines_async(
        draft.id, params={"lines": [{"id": new_line.id, "behavior": "delete"}]}
    )
    assert removed.total == 2500
    opened = await v1.invoices.finalize_invoice_async(draft.id)
    assert (opened.status, opened.amount_due) == ("open", 2200)
    assert [i.id for i in (await v1.invoices.list_async(params={"status": "open"})).data] == [
        draft.id
    ]
    found_invoices = await v1.invoices.search_async(params={"query": f"customer:'{cus.id}'"})
    assert [i.id for i in found_invoices.data] == [draft.id]

    cn_params: stripe.params.CreditNoteCreateParams = {"invoice": draft.id, "amount": 200}
    assert (await v1.credit_notes.preview_async(params=cn_params)).amount == 200  # type: ignore[arg-type]
    assert (await v1.credit_notes.preview_lines.list_async(params=cn_params)).data == []  # type: ignore[arg-type]
    note = await v1.credit_notes.create_async(params=cn_params)
    assert (await v1.credit_notes.retrieve_async(note.id)).pre_payment_amount == 200
    assert (await v1.credit_notes.update_async(note.id, params={"memo": "m"})).memo == "m"
    assert len((await v1.credit_notes.list_async()).data) == 1
    assert (await v1.credit_notes.line_items.list_async(note.id)).data == []
    assert (await v1.credit_notes.void_credit_note_async(note.id)).status == "void"

    uncollectible = await v1.invoices.mark_uncollectible_async(draft.id)
    assert uncollectible.status == "uncollectible"
    paid = await v1.invoices.pay_async(draft.id, params={"paid_out_of_band": True})
    assert paid.status == "paid"
    second = await v1.invoices.create_async(params={"customer": cus.id})
    await v1.invoice_items.create_async(
        params={"customer": cus.id, "amount": 900, "invoice": second.id}
    )
    await v1.invoices.finalize_invoice_async(second.id)
    assert (await v1.invoices.void_invoice_async(second.id)).status == "void"
    third = await v1.invoices.create_async(params={"customer": cus.id})
    assert (await v1.invoices.delete_async(third.id)).deleted is True
    spare = await v1.invoice_items.create_async(params={"customer": cus.id, "amount": 1})
    assert (await v1.invoice_items.delete_async(spare.id)).deleted is True

    events = await v1.events.list_async(params={"types": ["invoice.paid", "invoice.voided"]})
    assert [e.type for e in events.data] == ["invoice.voided", "invoice.paid"]
    assert (await v1.events.retrieve_async(events.data[0].id)).type == "invoice.voided"
    assert (await v1.customers.delete_async(cus.id)).deleted is True


def test_every_endpoint_through_the_async_client(stripe_sandbox: StripeSandbox) -> None:
    http = stripe.HTTPXClient()
    client = stripe_sandbox.client(http_client=http)

    async def run() -> None:
        try:
            await _every_endpoint(client)
        finally:
            await http.close_async()

    asyncio.run(run())


def test_many_concurrent_writes_to_one_account_all_land(stripe_sandbox: StripeSandbox) -> None:
    http = stripe.HTTPXClient()
    client = stripe_sandbox.client(http_client=http)

    async def run() -> set[str]:
        try:
            cus = await client.v1.customers.create_async(params={"name": "Busy"})
            items = await asyncio.gather(
                *(
                    client.v1.invoice_items.create_async(
                        params={"customer": cus.id, "amount": n + 1, "currency": "usd"}
                    )
                    for n in range(60)
                )
            )
            draft = await client.v1.invoices.create_async(
                params={"customer": cus.id, "pending_invoice_items_behavior": "include"}
            )
            assert draft.total == sum(range(1, 61))
            return {i.id for i in items}
        finally:
            await http.close_async()

    assert len(asyncio.run(run())) == 60
