"""The command line's grammar: what each spelling of a command line means."""

from __future__ import annotations

import pytest

from billing_desk.cli import gui_implied
from billing_desk.cli.parser import build_parser

COMMANDS = build_parser().commands


@pytest.mark.parametrize(
    ("words", "meant"),
    [
        (["--demo", "--screenshot", "x.png"], ["--demo", "gui", "--screenshot", "x.png"]),
        (
            ["--db", "sqlite:///a", "--demo", "--customer=c1"],
            ["--db", "sqlite:///a", "--demo", "gui", "--customer=c1"],
        ),
        (["--demo"], ["--demo"]),  # the shorthand alone: main adds `gui` itself
        (["sync", "--customer", "c1"], ["sync", "--customer", "c1"]),  # a command is named
        (["gui", "--screenshot", "x.png"], ["gui", "--screenshot", "x.png"]),
    ],
)
def test_the_apps_own_options_imply_the_gui_command(words: list[str], meant: list[str]) -> None:
    assert gui_implied(words, COMMANDS) == meant
    args = build_parser().parse_args(meant)
    assert args.command == (
        "gui" if "gui" in meant else (meant[0] if meant[0] in COMMANDS else None)
    )


def test_the_parser_knows_every_command() -> None:
    assert {"gui", "db", "ingest", "sync", "close", "sandbox"} <= COMMANDS
