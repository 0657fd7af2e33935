"""`sandbox`: the local Stripe-compatible server in the foreground (see CONTRACT.md).

Prints `listening on http://HOST:PORT` (with --json: `{"url": ...}`) once the port is bound,
serves until SIGTERM or SIGINT, saves `--state FILE` if given, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys

from billing_desk.cli.context import Context
from billing_desk.domain.errors import ConfigurationError, InvalidInput


def run_sandbox(ctx: Context, args: argparse.Namespace) -> int:
    from billing_desk.sandbox.faults import FaultConfig
    from billing_desk.sandbox.sandbox import Sandbox
    from billing_desk.sandbox.server import BindError, serve_forever

    faults = FaultConfig(
        rate_limit=args.rate_limit,
        latency_ms=args.latency_ms,
        fail_rate=args.fail_rate,
        drop_after_commit_rate=args.drop_after_commit_rate,
    )
    try:
        sandbox = Sandbox(
            faults, random_seed=args.random_seed, seed=args.seed, state_file=args.state
        )
    except (ValueError, KeyError, OSError) as exc:
        raise InvalidInput(f"--state {args.state}: can't be loaded ({exc})") from None

    def ready(url: str) -> None:
        line = json.dumps({"url": url}) if ctx.json_output else f"listening on {url}"
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    try:
        serve_forever(sandbox, args.host, args.port, ready)
    except BindError as exc:
        raise ConfigurationError(str(exc)) from None
    except OSError as exc:  # only the --state file is written after binding
        raise ConfigurationError(f"--state {args.state}: can't be saved ({exc})") from None
    return 0
