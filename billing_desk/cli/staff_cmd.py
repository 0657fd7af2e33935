"""`staff add USER --role agent|lead|admin` and `staff list` (admins only, CONTRACT.md).

On PostgreSQL `staff add` creates the database login (without a password: set one as the DBA,
or use trust/peer/certificate authentication) or grants an existing one its group role.
"""

from __future__ import annotations

import argparse
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.cli.corrections_cmd import actor
from billing_desk.services import staff
from billing_desk.store.uow import UnitOfWork


def register(sub: Any) -> None:
    group = sub.add_parser("staff", help="who may do what (admins only)")
    cmds = group.add_subparsers(dest="staff_command", metavar="ACTION", required=True)
    add = cmds.add_parser("add", help="give USER a role (creates the PostgreSQL login)")
    add.add_argument("login", metavar="USER")
    add.add_argument("--role", required=True, choices=("agent", "lead", "admin"))
    add.set_defaults(handler=_add)
    listing = cmds.add_parser("list", help="the staff and their roles (JSON array)")
    listing.set_defaults(handler=_list)


def _add(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        change = staff.add(uow, actor(ctx, uow, args), args.login, args.role)
    previous = None if change.previous is None else change.previous.value
    was = f" (was {previous})" if previous and previous != change.role.value else ""
    ctx.emit(
        {"login": change.login, "role": change.role.value, "previous": previous},
        f"{change.login} is {change.role.value}{was}",
    )
    return 0


def _list(ctx: Context, args: argparse.Namespace) -> int:
    with UnitOfWork(ctx.engine(), write=True) as uow:
        members = staff.members(uow, actor(ctx, uow, args))
        uow.commit()  # the first admin of a new SQLite store, if this made one
    ctx.emit([m.to_json() for m in members])
    return 0
