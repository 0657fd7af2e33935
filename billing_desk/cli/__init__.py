"""The command line of CONTRACT.md: global options, one module per command group, exit codes.

Each command module exposes `register(subparsers)`; a command handler takes the `Context` and
its parsed arguments and returns an exit code. Errors users can act on (`BillingDeskError`) are
one line on stderr with their exit code; nothing else is caught here, so bugs stay loud.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from billing_desk.cli import (
    audit_cmd,
    corrections_cmd,
    customers_cmd,
    db_cmd,
    gui_cmd,
    ingest_cmd,
    lines_cmd,
    sandbox_cmd,
    staff_cmd,
    sync_cmd,
)
from billing_desk.cli.context import Context
from billing_desk.config import RuntimeOptions
from billing_desk.domain.errors import BillingDeskError

COMMAND_MODULES = (
    gui_cmd,
    db_cmd,
    customers_cmd,
    ingest_cmd,
    lines_cmd,
    sync_cmd,
    corrections_cmd,
    audit_cmd,
    staff_cmd,
    sandbox_cmd,
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="billing-desk",
        description="Billing Desk: the local usage ledger and support desk over Stripe.",
    )
    parser.add_argument("--db", metavar="URL", help="store URL (env BILLING_DESK_DB)")
    parser.add_argument(
        "--as", dest="as_user", metavar="USER", help="act as USER (env BILLING_DESK_USER)"
    )
    parser.add_argument(
        "--stripe-base", metavar="URL", help="Stripe API base (env BILLING_DESK_STRIPE_BASE)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON value on stdout")
    parser.add_argument("--demo", action="store_true", help="shorthand for `gui --demo`")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    options = RuntimeOptions.resolve(args.db, args.as_user, args.stripe_base, args.json)
    ctx = Context(options)
    if args.command is None:
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "gui"])
    try:
        code: int = args.handler(ctx, args)
    except BillingDeskError as exc:
        ctx.fail(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        code = 130
    finally:
        ctx.close()
    return code
