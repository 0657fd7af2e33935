"""Stripe's preview of a correction, against the sandbox over real HTTP, on SQLite and
PostgreSQL: what Stripe previews is what it then does when the correction is applied, and it
agrees with the local preview."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from billing_desk.cli import main
from billing_desk.domain.corrections import Kind, Proposal
from billing_desk.store.models.sync import PeriodInvoice
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import GatewayConfig, RateLimiter, open_gateway
from billing_desk.sync.preview import StripePreview, stripe_preview
from tests.integration.corrections_support import add_staff, proposal
from tests.integration.stripe_desk import AT_ONCE, DRAFT, PERIOD, Desk


def ask(desk: Any, p: Proposal, who: str = "lee") -> StripePreview | None:
    async def go() -> StripePreview | None:
        config = GatewayConfig(desk.sandbox.api_key, desk.sandbox.url, timeout_s=10)
        async with open_gateway(config, RateLimiter(100)) as gateway:
            return await stripe_preview(gateway, lambda: UnitOfWork(desk.engine), p, who)

    return asyncio.run(go())


def credit(desk: Desk, amount: int) -> Proposal:
    return proposal(Kind.CREDIT, desk.customer, PERIOD, amount=amount)


@pytest.fixture
def draft(engine: Engine, stripe_sandbox: Any) -> Desk:
    return Desk(engine, stripe_sandbox, DRAFT)


@pytest.fixture
def finalized(engine: Engine, stripe_sandbox: Any) -> Desk:
    return Desk(engine, stripe_sandbox, AT_ONCE)


def test_a_post_payment_credit_preview_is_the_credit_note_stripe_then_issues(
    finalized: Desk,
) -> None:
    client = finalized.sandbox.client()
    paid = client.v1.invoices.pay(finalized.invoice_id())
    with UnitOfWork(finalized.engine, write=True) as uow:
        # What the pull engine records from Stripe's invoice.paid event.
        inv = uow.session.scalar(select(PeriodInvoice))
        assert inv is not None
        inv.status = "paid"
        uow.commit()
    found = ask(finalized, credit(finalized, 70))
    assert found is not None
    assert found.credit_note is not None
    note = found.credit_note
    assert (found.source, found.change, found.matches) == ("credit_note_preview", -70, True)
    assert (note.pre_payment_amount, note.post_payment_amount) == (0, 70)
    assert (note.customer_balance_amount, note.refund_amount, note.out_of_band_amount) == (70, 0, 0)
    assert client.v1.credit_notes.list({"invoice": paid.id}).data == []  # nothing issued

    finalized.propose("lee", Kind.CREDIT, amount=70)
    finalized.run(customer=finalized.customer)
    (issued,) = client.v1.credit_notes.list({"invoice": paid.id}).data
    assert (issued.total, issued.post_payment_amount) == (note.total, note.post_payment_amount)
    assert client.v1.customers.retrieve(paid.customer).balance == -note.customer_balance_amount


def test_a_pre_payment_credit_preview_reduces_what_is_due_as_the_local_preview_says(
    finalized: Desk,
) -> None:
    before = finalized.stripe_invoice()
    assert before.status == "open"
    found = ask(finalized, credit(finalized, 150))
    assert found is not None
    assert found.credit_note is not None
    note = found.credit_note
    local = found.local.plan.impact
    assert found.matches
    assert note.amount_remaining_before == before.amount_remaining
    assert note.amount_remaining_after - note.amount_remaining_before == local.change == -150
    assert (note.pre_payment_amount, note.customer_balance_amount) == (150, 0)

    finalized.propose("lee", Kind.CREDIT, amount=150)
    finalized.run(customer=finalized.customer)
    assert finalized.stripe_invoice().amount_remaining == note.amount_remaining_after


def test_before_close_stripe_previews_the_upcoming_invoice(
    engine: Engine, stripe_sandbox: Any
) -> None:
    desk = Desk(engine, stripe_sandbox, None)  # lines pushed as pending items, no invoice yet
    for p in (
        credit(desk, 234),
        proposal(Kind.ONE_OFF, desk.customer, PERIOD, amount=1_999, description="Setup"),
        proposal(Kind.ADJUST, desk.customer, PERIOD, amount=50, line_id=desk.lines[0]),
        proposal(Kind.VOID, desk.customer, PERIOD, line_id=desk.lines[1]),
    ):
        found = ask(desk, p)
        assert found is not None
        assert (p.kind, found.source, found.matches) == (p.kind, "invoice_preview", True)
        assert found.total_before == desk.local_total()
    # Previews leave Stripe as it was: no invoice, no new items.
    client = stripe_sandbox.client()
    assert client.v1.invoices.list().data == []
    assert len(client.v1.invoice_items.list().data) == 2


def test_on_a_draft_stripe_figures_agree_with_the_local_preview(draft: Desk) -> None:
    for p in (
        credit(draft, 234),
        proposal(Kind.ONE_OFF, draft.customer, PERIOD, amount=1_999, description="Setup"),
        proposal(Kind.ADJUST, draft.customer, PERIOD, amount=50, line_id=draft.lines[0]),
        proposal(Kind.VOID, draft.customer, PERIOD, line_id=draft.lines[1]),
    ):
        found = ask(draft, p)
        assert found is not None
        assert (p.kind, found.source, found.matches) == (p.kind, "draft", True)
        assert found.total_before == draft.stripe_invoice().total
    # Nothing for Stripe to compute for a hold.
    assert ask(draft, proposal(Kind.HOLD, draft.customer, PERIOD)) is None


def test_a_draft_that_drifted_from_the_store_shows_a_mismatch(draft: Desk) -> None:
    """Stripe's draft changed behind the store's back: the preview says so."""
    client = draft.sandbox.client()
    invoice = draft.stripe_invoice()
    client.v1.invoice_items.create(
        {"customer": invoice.customer, "invoice": invoice.id, "amount": 500, "currency": "usd"}
    )
    found = ask(draft, credit(draft, 100))
    assert found is not None
    assert (found.change, found.matches) == (-100, False)
    assert found.total_before == found.local.plan.impact.total_before + 500


def cli(
    capsys: pytest.CaptureFixture[str], db_url: str, base: str, *args: str
) -> tuple[int, Any, str]:
    # On PostgreSQL the acting identity is the database login (a lead, see `as_lead`).
    who = ["--as", "lee"] if db_url.startswith("sqlite") else []
    code = main(["--db", db_url, *who, "--stripe-base", base, "--json", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def as_lead(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            login = str(conn.scalar(text("SELECT session_user")))
        add_staff(engine, {login: "lead"})


def test_cli_preview_with_stripe(
    finalized: Desk,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    as_lead(finalized.engine)
    monkeypatch.setenv("STRIPE_API_KEY", finalized.sandbox.api_key)
    args = ["corrections", "preview", "--customer", finalized.customer, "--period", PERIOD]
    args += ["--kind", "credit", "--amount", "1.50", "--reason", "goodwill"]
    code, plain, err = cli(capsys, db_url, finalized.sandbox.url, *args)
    assert (code, err) == (0, "")
    assert "stripe" not in plain
    code, data, _ = cli(capsys, db_url, finalized.sandbox.url, *args, "--stripe")
    assert code == 0
    assert {k: data[k] for k in plain} == plain  # the local preview as before
    stripe = data["stripe"]
    assert (stripe["source"], stripe["change"], stripe["matches"]) == (
        "credit_note_preview",
        plain["change"],
        True,
    )
    assert stripe["credit_note"]["pre_payment_amount"] == 150

    # Stripe has no preview of a void.
    void = [a if a != "credit" else "void-invoice" for a in args if a not in ("--amount", "1.50")]
    code, voided, _ = cli(capsys, db_url, finalized.sandbox.url, *void, "--stripe")
    assert (code, voided["stripe"]) == (0, None)


def test_cli_preview_says_so_when_stripe_is_unreachable(
    finalized: Desk,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    as_lead(finalized.engine)
    monkeypatch.setenv("STRIPE_API_KEY", finalized.sandbox.api_key)
    args = ["corrections", "preview", "--customer", finalized.customer, "--period", PERIOD]
    args += ["--kind", "credit", "--amount", "1.50", "--reason", "goodwill", "--stripe"]
    code, data, err = cli(capsys, db_url, dead, *args)
    assert (code, data) == (3, None)
    assert "no Stripe preview: Stripe could not be reached" in err
