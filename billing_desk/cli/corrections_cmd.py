"""`corrections propose/approve/reject/list` (CONTRACT.md), plus `undo`, `preview` and `queue`.

The acting user is the `--as` name (or the OS login) on SQLite and the database login on
PostgreSQL (see `services.staff.identity`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.config import ENV_USER, stripe_api_key
from billing_desk.domain.corrections import (
    Kind,
    Proposal,
    parse_kind,
    parse_quantity,
    parse_reason,
    parse_status,
)
from billing_desk.domain.errors import ConfigurationError
from billing_desk.domain.money import format_money, parse_major
from billing_desk.domain.settings import Settings
from billing_desk.services import corrections as svc
from billing_desk.services import finalization_gate, staff
from billing_desk.services.close import parse_period
from billing_desk.store import corrections_repo
from billing_desk.store.models.corrections import Correction
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import (
    GatewayConfig,
    RateLimiter,
    RetryPolicy,
    TransientStripeError,
    install_log_redaction,
    open_gateway,
)
from billing_desk.sync.preview import StripePreview, stripe_preview

PROPOSE_KINDS = [k.value for k in Kind if k is not Kind.UNDO]


def register(sub: Any) -> None:
    group = sub.add_parser("corrections", help="propose, approve, reject and list corrections")
    cmds = group.add_subparsers(dest="corrections_command", metavar="ACTION", required=True)

    for name, handler, text in (
        ("propose", _propose, "propose a correction (applied at once within your limit)"),
        ("preview", _preview, "what a proposal would do now, without recording it"),
    ):
        p = cmds.add_parser(name, help=text)
        p.add_argument("--customer", required=True, metavar="ID")
        p.add_argument("--period", required=True, metavar="YYYY-MM")
        p.add_argument("--kind", required=True, metavar="KIND", help=", ".join(PROPOSE_KINDS))
        p.add_argument("--line", type=_int("--line"), metavar="LINE_ID")
        p.add_argument("--amount", metavar="DEC", help="in the currency's major unit: 12.50")
        p.add_argument("--quantity", metavar="DEC")
        p.add_argument("--description", metavar="TEXT")
        p.add_argument("--reason", required=True, metavar="CODE")
        p.add_argument("--note", metavar="TEXT")
        if name == "preview":
            p.add_argument(
                "--stripe", action="store_true", help="also ask Stripe what it would compute"
            )
        p.set_defaults(handler=handler)

    approve = cmds.add_parser("approve", help="approve (lead; not your own) and apply")
    approve.add_argument("id", type=_int("ID"), metavar="ID")
    approve.add_argument("--note", metavar="TEXT")
    approve.add_argument(
        "--line-version",
        type=_int("--line-version"),
        metavar="N",
        help="refuse if the line is no longer at the version you reviewed",
    )
    approve.set_defaults(handler=_approve)

    reject = cmds.add_parser("reject", help="reject (lead; not your own)")
    reject.add_argument("id", type=_int("ID"), metavar="ID")
    reject.add_argument("--note", required=True, metavar="TEXT")
    reject.set_defaults(handler=_reject)

    undo = cmds.add_parser("undo", help="propose undoing an applied correction")
    undo.add_argument("id", type=_int("ID"), metavar="ID")
    undo.add_argument("--reason", required=True, metavar="CODE")
    undo.add_argument("--note", metavar="TEXT")
    undo.set_defaults(handler=_undo)

    listing = cmds.add_parser("list", help="corrections, newest first (JSON array)")
    listing.add_argument("--status", metavar="S")
    listing.add_argument("--customer", metavar="ID")
    listing.add_argument("--period", metavar="YYYY-MM")
    listing.add_argument("--limit", type=_int("--limit"), default=200, metavar="N")
    listing.set_defaults(handler=_list)

    queue = cmds.add_parser("queue", help="what awaits a lead, soonest finalization first")
    queue.add_argument("--limit", type=_int("--limit"), default=50, metavar="N")
    queue.set_defaults(handler=_queue)


def _int(name: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, not {text!r}"
            ) from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be at least 1")
        return value

    return parse


def actor(ctx: Context, uow: UnitOfWork, args: argparse.Namespace) -> str:
    named = getattr(args, "as_user", None) or os.environ.get(ENV_USER)
    return staff.identity(uow, named, ctx.user)


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


def _propose(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = actor(ctx, uow, args)
        decision = svc.propose(uow, who, _proposal(uow, args))
    return _decided(ctx, decision)


def _preview(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = actor(ctx, uow, args)
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
        found = asyncio.run(_stripe_preview(ctx, proposal, who))
        data["stripe"] = None if found is None else found.to_json()
        text += "\n" + _stripe_line(found)
    ctx.emit(data, text)
    return 0


async def _stripe_preview(ctx: Context, proposal: Proposal, who: str) -> StripePreview | None:
    install_log_redaction()
    key = stripe_api_key(ctx.secrets)
    if not key:
        raise ConfigurationError(
            "no Stripe key for --stripe: set STRIPE_API_KEY or store it in the OS keyring "
            "(service billing-desk, entry stripe-api-key)"
        )
    # Someone is waiting at the prompt: a short timeout and one retry, not the worker's patience.
    config = GatewayConfig(
        key, ctx.options.stripe_base, timeout_s=10, retry=RetryPolicy(attempts=2, cap_s=1.0)
    )
    store = ctx.engine()
    try:
        async with open_gateway(config, RateLimiter(Settings().rate_limit_test)) as gateway:
            return await stripe_preview(gateway, lambda: UnitOfWork(store), proposal, who)
    except TransientStripeError as exc:
        raise TransientStripeError(
            f"no Stripe preview: {exc.message}; the local preview above still holds, "
            "try --stripe again later",
            endpoint=exc.endpoint,
            http_status=exc.http_status,
            code=exc.code,
        ) from None


def _stripe_line(found: StripePreview | None) -> str:
    if found is None:
        return "stripe: nothing to preview for this kind"
    code = found.currency
    verdict = "matches" if found.matches else "MISMATCH with the local preview"
    text = (
        f"stripe ({found.source}): {format_money(found.total_before, code)} -> "
        f"{format_money(found.total_after, code)} (change {format_money(found.change, code)}); "
        f"{verdict}"
    )
    note = found.credit_note
    if note is not None:
        text += (
            f"; amount remaining {format_money(note.amount_remaining_before, code)} -> "
            f"{format_money(note.amount_remaining_after, code)}, to customer balance "
            f"{format_money(note.customer_balance_amount, code)}"
        )
    return text


def _approve(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = actor(ctx, uow, args)
        svc.approve(uow, who, args.id, args.note, seen_line_version=args.line_version)
    # Applied in its own transaction: if the line changed meanwhile, the approval lapses.
    with UnitOfWork(ctx.engine(), write=True) as uow:
        applied = svc.apply_approved(uow, who, correction_id=args.id)
        # Empty when someone (a sync worker) applied it first: report where it stands.
        decision = applied[0] if applied else svc.status_of(uow, args.id)
    return _decided(ctx, decision)


def _reject(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        decision = svc.reject(uow, actor(ctx, uow, args), args.id, args.note)
    return _decided(ctx, decision)


def _undo(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        who = actor(ctx, uow, args)
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


def _list(ctx: Context, args: argparse.Namespace) -> int:
    statuses = None if args.status is None else [parse_status(args.status)]
    period = None if args.period is None else parse_period(args.period)
    with UnitOfWork(ctx.engine()) as uow:
        actor(ctx, uow, args)  # on PostgreSQL, --as naming someone else is refused
        rows = corrections_repo.list_corrections(
            uow.session,
            statuses=statuses,
            customer_id=args.customer,
            period=period,
            limit=args.limit,
        )
        ctx.emit([correction_json(c) for c in rows])
    return 0


def _queue(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine()) as uow:
        actor(ctx, uow, args)
        rows = finalization_gate.approvals_queue(uow, limit=args.limit)
    ctx.emit([r.to_json() for r in rows])
    return 0
