"""`customers import FILE...` (CONTRACT.md; its options are in `parser.py`)."""

from __future__ import annotations

import argparse

from billing_desk.cli.context import Context
from billing_desk.cli.ingest_cmd import check_reject_options, open_sources, reject_sink
from billing_desk.services.customers import import_customers
from billing_desk.store.uow import UnitOfWork


def run_import(ctx: Context, args: argparse.Namespace) -> int:
    check_reject_options(args)
    with (
        open_sources(args.files) as sources,
        reject_sink(ctx, args.rejects) as on_reject,
        ctx.store_errors(),
        UnitOfWork(ctx.engine(), write=True) as uow,
    ):
        summary = import_customers(
            uow, sources, skip_invalid=args.skip_invalid, on_reject=on_reject
        )
    if summary.rejected and not summary.written:
        ctx.warn(
            f"nothing was written: {summary.rejected} invalid row(s); fix them, or write the "
            "valid rows with --skip-invalid --rejects PATH"
        )
    human = (
        f"{summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.rejected} rejected"
    )
    ctx.emit(summary.to_json(), human)
    return 1 if summary.rejected else 0
