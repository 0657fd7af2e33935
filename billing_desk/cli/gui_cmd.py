"""`gui [--demo] [--screenshot PNG] [--customer ID]`: the desktop app (see CONTRACT.md).

Qt is imported only when the app starts, so the rest of the CLI never pays for it.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.config import ENV_DB, ENV_USER


def register(sub: Any) -> None:
    gui = sub.add_parser("gui", help="the desktop app (the default with no command)")
    # Its own dest: `billing-desk --demo` sets the global flag, which this must not reset.
    gui.add_argument(
        "--demo",
        dest="gui_demo",
        action="store_true",
        help="a local Stripe sandbox and a temporary store with sample data",
    )
    gui.add_argument(
        "--screenshot",
        metavar="PNG",
        type=Path,
        help="render the main window once the first customer view has loaded, then exit 0",
    )
    gui.add_argument("--customer", metavar="ID", help="open this customer at start")
    gui.set_defaults(handler=_gui)


def _gui(ctx: Context, args: argparse.Namespace) -> int:
    from billing_desk.ui.app import LaunchOptions, run

    launch = LaunchOptions(
        demo=bool(args.demo or args.gui_demo),
        screenshot=args.screenshot,
        customer=args.customer,
        db_explicit=args.db is not None or bool(os.environ.get(ENV_DB)),
        user_named=args.as_user or os.environ.get(ENV_USER) or None,
    )
    return run(ctx.options, ctx.secrets, launch)
