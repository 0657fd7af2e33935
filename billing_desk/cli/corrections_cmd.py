"""`corrections propose/approve/reject/list` (CONTRACT.md), plus `undo`, `preview` and `queue`:
the handlers (their options are in `parser.py`).

The acting user (`ctx.actor`) is the `--as` name (or the OS login) on SQLite and the database
login on PostgreSQL, decided once for every command in `Context.identify`.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.domain.corrections import (
    Proposal,
    parse_kind,
    parse_quantity,
    parse_reason,
    parse_status,
)
from billing_desk.domain.money import format_money, parse_major
from billing_desk.services import corrections as svc
from billing_desk.services import finalization_gate
from billing_desk.services.close import parse_period
from billing_desk.store import corrections_repo
from billing_desk.store.models.corrections import Correction
from billing_desk.store.uow import UnitOfWork


def _proposal(uow: UnitOfWork, args: argparse.Namespace) -> Proposal:
    period = parse_period(args.period)
    invoice = corrections_repo.invoice_view(uow.session, args.customer, period)
    return Proposal(
        kind=parse_kind(args.kind),
        customer_id=args.customer,
        period=period,
        reason=parse_reason(args.reason),
        note=args.note,
        line_id=args.line,
        amount=None if args.amount is None else parse_major(args.amount, invoice.currency),
        quantity=None if args.quantity is None else parse_quantity(args.quantity),
        description=args.description,
    )


def _decided(ctx: Context, decision: svc.Decision) -> int:
    why = f" ({decision.reason})" if decision.reason else ""
    ctx.emit(
        {"id": decision.id, "status": decision.status.value},
        f"correction {decision.id}: {decision.status.value}{why}",
    )
    return 0


def run_propose(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = ctx.actor
        decision = svc.propose(uow, who, _proposal(uow, args))
    return _decided(ctx, decision)


def run_preview(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = ctx.actor
        proposal = _proposal(uow, args)
        preview = svc.preview_correction(uow, who, proposal)
    data = preview.to_json()
    code = data["currency"]
    wait = data["needs_approval"] or "applies at once"
    text = (
        f"invoice total {format_money(data['total_before'], code)} -> "
        f"{format_money(data['total_after'], code)} "
        f"(change {format_money(data['change'], code)}); {wait}"
    )
    if args.stripe:
        # Only --stripe needs the gateway (stripe-python, aiohttp): imported for it alone.
        from billing_desk.cli import stripe_preview_cmd

        found = asyncio.run(stripe_preview_cmd.stripe_side(ctx, proposal, who))
        data["stripe"] = None if found is None else found.to_json()
        text += "\n" + stripe_preview_cmd.describe(found)
    ctx.emit(data, text)
    return 0


def run_approve(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = ctx.actor
        svc.approve(uow, who, args.id, args.note, seen_line_version=args.line_version)
    # Applied in its own transaction: if the line changed meanwhile, the approval lapses.
    with UnitOfWork(ctx.engine(), write=True) as uow:
        applied = svc.apply_approved(uow, who, correction_id=args.id)
        # Empty when someone (a sync worker) applied it first: report where it stands.
        decision = applied[0] if applied else svc.status_of(uow, args.id)
    return _decided(ctx, decision)


def run_reject(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        decision = svc.reject(uow, ctx.actor, args.id, args.note)
    return _decided(ctx, decision)


def run_undo(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = ctx.actor
        decision = svc.undo(uow, who, args.id, parse_reason(args.reason), args.note)
    return _decided(ctx, decision)


def correction_json(c: Correction) -> dict[str, Any]:
    return {
        "id": c.id,
        "customer": c.customer_id,
        "period": c.period,
        "kind": c.kind,
        "status": c.status,
        "line": c.line_id,
        "reverts": c.reverts_id,
        "amount": c.amount,
        "quantity": None if c.quantity is None else format(c.quantity, "f"),
        "description": c.description,
        "currency": c.currency,
        "impact": c.impact,
        "reason": c.reason,
        "note": c.note,
        "requested_by": c.requested_by,
        "requested_at": c.requested_at.isoformat(),
        "status_by": c.status_by,
        "status_at": c.status_at.isoformat(),
        "status_reason": c.status_reason,
    }


def run_list(ctx: Context, args: argparse.Namespace) -> int:
    statuses = None if args.status is None else [parse_status(args.status)]
    period = None if args.period is None else parse_period(args.period)
    with UnitOfWork(ctx.engine()) as uow:
        rows = corrections_repo.list_corrections(
            uow.session,
            statuses=statuses,
            customer_id=args.customer,
            period=period,
            limit=args.limit,
        )
        ctx.emit([correction_json(c) for c in rows])
    return 0


def run_queue(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine()) as uow:
        rows = finalization_gate.approvals_queue(uow, limit=args.limit)
    ctx.emit([r.to_json() for r in rows])
    return 0
