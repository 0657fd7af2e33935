"""`gui [--demo] [--screenshot PNG] [--customer ID]`: the desktop app (see CONTRACT.md).

Qt is imported only when the app starts, so the rest of the CLI never pays for it.
"""

from __future__ import annotations

import argparse
import os

from billing_desk.cli.context import Context
from billing_desk.config import ENV_DB


def run_gui(ctx: Context, args: argparse.Namespace) -> int:
    from billing_desk.ui.app import LaunchOptions, run

    launch = LaunchOptions(
        demo=bool(args.demo or args.gui_demo),
        screenshot=args.screenshot,
        customer=args.customer,
        db_explicit=args.db is not None or bool(os.environ.get(ENV_DB)),
        user_named=ctx.named_user,
    )
    return run(ctx.options, ctx.secrets, launch)
