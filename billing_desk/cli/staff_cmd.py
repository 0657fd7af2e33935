"""`staff add USER --role agent|lead|admin` and `staff list` (admins only, CONTRACT.md).

On PostgreSQL `staff add` creates the database login (without a password: set one as the DBA,
or use trust/peer/certificate authentication) or grants an existing one its group role.
"""

from __future__ import annotations

import argparse

from billing_desk.cli.context import Context
from billing_desk.services import staff
from billing_desk.store.uow import UnitOfWork


def run_add(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        change = staff.add(uow, ctx.actor, args.login, args.role)
    previous = None if change.previous is None else change.previous.value
    was = f" (was {previous})" if previous and previous != change.role.value else ""
    ctx.emit(
        {"login": change.login, "role": change.role.value, "previous": previous},
        f"{change.login} is {change.role.value}{was}",
    )
    return 0


def run_list(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        members = staff.members(uow, ctx.actor)
        uow.commit()  # the first admin of a new SQLite store, if this made one
    ctx.emit([m.to_json() for m in members])
    return 0
