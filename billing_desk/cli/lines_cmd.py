"""`lines --customer ID --period YYYY-MM`: a customer's compiled lines (CONTRACT.md)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.ledger import canonical_decimal
from billing_desk.domain.money import format_money
from billing_desk.store.ledger_repo import lines_of
from billing_desk.store.models import Customer, Line
from billing_desk.store.uow import UnitOfWork

_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def run_lines(ctx: Context, args: argparse.Namespace) -> int:
    if _PERIOD.fullmatch(args.period) is None:
        raise InvalidInput(f"--period {args.period!r} is not a month like 2026-01")
    with ctx.store_errors(), UnitOfWork(ctx.engine()) as uow:
        if uow.session.get(Customer, args.customer) is None:
            raise InvalidInput(f"--customer {args.customer!r} is not an imported customer")
        lines = lines_of(uow.session, args.customer, args.period)
        rows = [_as_json(line) for line in lines]
        human = "\n".join(
            f"{line.id:>8}  {line.item:<24} {canonical_decimal(line.quantity):>14} × "
            f"{canonical_decimal(line.unit_amount):<10} "
            f"{format_money(line.amount, line.currency):>16}  {line.sync_state}"
            for line in lines
        )
    ctx.emit(rows, human or f"no lines for {args.customer} in {args.period}")
    return 0


def _as_json(line: Line) -> dict[str, Any]:
    return {
        "id": line.id,
        "item": line.item,
        "description": line.description,
        "quantity": canonical_decimal(line.quantity),
        "unit_amount": canonical_decimal(line.unit_amount),
        "amount": line.amount,
        "currency": line.currency,
        "sync_state": line.sync_state,
        "stripe_invoice_item": line.stripe_invoice_item,
    }
