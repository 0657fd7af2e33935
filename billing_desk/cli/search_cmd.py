"""`customers search QUERY [--limit N]` (CONTRACT.md; its options are in `parser.py`).

Its own module, apart from `customers import`: a search, as a script or a shell alias runs it,
imports only the search queries and the store.
"""

from __future__ import annotations

import argparse

from billing_desk.cli.context import Context
from billing_desk.services.search import search_customers
from billing_desk.store.uow import UnitOfWork


def run_search(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.store_errors(), UnitOfWork(ctx.engine()) as uow:
        found = search_customers(uow, args.query, args.limit)
    rows = [hit.to_json() for hit in found]
    human = "\n".join(
        f"{r['id']}  {r['name']}  <{r['email']}>  {r['stripe_customer_id'] or '-'}" for r in rows
    )
    ctx.emit(rows, human or "no customer matches")
    return 0
