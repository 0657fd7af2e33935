"""`sandbox`: the local Stripe-compatible server in the foreground (see CONTRACT.md).

Prints `listening on http://HOST:PORT` (with --json: `{"url": ...}`) once the port is bound,
serves until SIGTERM or SIGINT, saves `--state FILE` if given, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from billing_desk.cli.context import Context
from billing_desk.domain.errors import ConfigurationError, InvalidInput


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> float:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be above 0 (leave it out for no limit)")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sandbox",
        help="the local Stripe-compatible server (tests, demo)",
        description="A local, stateful, Stripe-compatible server with Stripe's failure modes. "
        "Admin endpoints live under /_sandbox/ (see billing_desk/sandbox/__init__.py).",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=_port, default=12111, help="port (12111; 0 = any free one)")
    p.add_argument("--seed", choices=("none", "demo"), default="none", help="initial data (none)")
    p.add_argument(
        "--rate-limit", type=_positive, metavar="RPS", help="requests per second per account"
    )
    p.add_argument(
        "--latency-ms", type=_non_negative, default=0.0, metavar="MS", help="added latency"
    )
    p.add_argument("--fail-rate", type=_probability, default=0.0, metavar="P", help="share of 500s")
    p.add_argument(
        "--drop-after-commit-rate",
        type=_probability,
        default=0.0,
        metavar="P",
        help="share of successful writes whose response is dropped",
    )
    p.add_argument("--random-seed", type=int, metavar="N", help="makes faults reproducible")
    p.add_argument(
        "--state", type=Path, metavar="FILE", help="load at start, save at stop and on snapshot"
    )
    p.set_defaults(handler=_sandbox)


def _sandbox(ctx: Context, args: argparse.Namespace) -> int:
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
