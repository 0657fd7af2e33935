"""The command line of CONTRACT.md: global options, one module per command group, exit codes.

The grammar lives in `parser.py` and imports nothing heavy; each command's handler module
(`*_cmd.py`) is imported only when that command runs, so `--help` and the store-only commands
never pay for Stripe, aiohttp, Alembic or Qt. A handler takes the `Context` and its parsed
arguments and returns an exit code. Errors users can act on (`BillingDeskError`) are one line
on stderr with their exit code; nothing else is caught here, so bugs stay loud.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from billing_desk.cli.context import Context
from billing_desk.cli.parser import build_parser
from billing_desk.config import ENV_USER, RuntimeOptions
from billing_desk.domain.errors import BillingDeskError

__all__ = ["build_parser", "main"]


# The app's own options, which may follow the `--demo` shorthand without naming `gui`.
_GUI_OPTIONS = ("--screenshot", "--customer")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(argv if argv is not None else sys.argv[1:])
    args = parser.parse_args(gui_implied(words, parser.commands))
    options = RuntimeOptions.resolve(args.db, args.as_user, args.stripe_base, args.json)
    ctx = Context(options, named_user=args.as_user or os.environ.get(ENV_USER) or None)
    if args.command is None:
        args = parser.parse_args([*words, "gui"])
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


def gui_implied(words: list[str], commands: frozenset[str]) -> list[str]:
    """`billing-desk --demo --screenshot X` is `billing-desk gui --demo --screenshot X`: with no
    command named, the app's own options start an implied `gui`."""
    if commands.intersection(words):
        return words
    for at, word in enumerate(words):
        if word.split("=", 1)[0] in _GUI_OPTIONS:
            return [*words[:at], "gui", *words[at:]]
    return words
