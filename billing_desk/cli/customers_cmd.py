"""`customers import FILE...` and `customers search QUERY [--limit N]` (CONTRACT.md)."""

from __future__ import annotations

import argparse
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.cli.ingest_cmd import (
    add_reject_options,
    check_reject_options,
    open_sources,
    reject_sink,
    store_errors,
)
from billing_desk.domain.errors import UsageError
from billing_desk.services.customers import import_customers
from billing_desk.store.uow import UnitOfWork


def register(sub: Any) -> None:
    group = sub.add_parser("customers", help="import and search customers")
    cmds = group.add_subparsers(dest="customers_command", metavar="ACTION", required=True)
    imp = cmds.add_parser(
        "import",
        help="upsert customers by id (JSONL, or CSV by extension; - reads JSONL from stdin)",
        description="Upsert customers by id: id, name, email, currency, stripe_customer_id "
        "(optional). Atomic: one invalid row and nothing is written (exit 1), unless "
        "--skip-invalid writes the valid rows and sends each invalid one to --rejects.",
    )
    imp.add_argument("files", nargs="+", metavar="FILE", help="JSONL or CSV file, or -")
    add_reject_options(imp)
    imp.set_defaults(handler=_import)
    search = cmds.add_parser("search", help="find customers, best matches first")
    search.add_argument(
        "query", metavar="QUERY", help="an id, an email or part of it, a cus_ id, name words"
    )
    search.add_argument("--limit", type=int, default=20, metavar="N", help="at most N (20)")
    search.set_defaults(handler=_search)


def _import(ctx: Context, args: argparse.Namespace) -> int:
    check_reject_options(args)
    with (
        open_sources(args.files) as sources,
        reject_sink(ctx, args.rejects) as on_reject,
        store_errors(ctx),
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


def _search(ctx: Context, args: argparse.Namespace) -> int:
    # Imported here: the search service is its own module with its own (heavier) queries.
    from billing_desk.services.search import search_customers

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    with store_errors(ctx), UnitOfWork(ctx.engine()) as uow:
        found = search_customers(uow, args.query, args.limit)
    rows = [_as_json(hit) for hit in found]
    human = "\n".join(
        f"{r['id']}  {r['name']}  <{r['email']}>  {r['stripe_customer_id'] or '-'}" for r in rows
    )
    ctx.emit(rows, human or "no customer matches")
    return 0


def _as_json(hit: Any) -> dict[str, Any]:
    fields = ("id", "name", "email", "stripe_customer_id")
    if isinstance(hit, dict):
        return {name: hit.get(name) for name in fields}
    return {name: getattr(hit, name, None) for name in fields}
