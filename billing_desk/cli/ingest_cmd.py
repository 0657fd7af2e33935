"""`ingest FILE... [--skip-invalid] [--rejects PATH]` (CONTRACT.md "Usage increments").

Also the pieces the other input commands share: opening the input files (`-` is JSONL on
stdin), the rejects file, the progress bar, and turning store failures met mid-command into one
clear line with exit code 5.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import IO

from billing_desk.cli.context import Context
from billing_desk.domain.errors import UsageError
from billing_desk.services.ingest import Reject, Source, ingest
from billing_desk.store.uow import UnitOfWork


def run_ingest(ctx: Context, args: argparse.Namespace) -> int:
    check_reject_options(args)
    with open_sources(args.files) as sources, reject_sink(ctx, args.rejects) as on_reject:
        total = sum(s.size or 0 for s in sources) if all(s.size for s in sources) else None
        progress = Progress(total) if sys.stderr.isatty() else None
        with ctx.store_errors(), UnitOfWork(ctx.engine(), write=True) as uow:
            summary = ingest(
                uow,
                sources,
                actor=ctx.actor,
                skip_invalid=args.skip_invalid,
                on_reject=on_reject,
                on_progress=None if progress is None else progress.update,
            )
        if progress is not None:
            progress.close()
    if summary.rejected and not summary.written:
        ctx.warn(
            f"nothing was written: {summary.rejected} invalid row(s); fix them, or write the "
            "valid rows with --skip-invalid --rejects PATH"
        )
    human = (
        f"{summary.accepted} accepted, {summary.duplicates} duplicates, {summary.rejected} rejected"
    )
    ctx.emit(summary.to_json(), human)
    return 1 if summary.rejected else 0


def check_reject_options(args: argparse.Namespace) -> None:
    if args.skip_invalid and not args.rejects:
        raise UsageError("--skip-invalid needs --rejects PATH, so that no invalid row is lost")
    if args.files.count("-") > 1:
        raise UsageError("stdin (-) can be read only once")


@contextlib.contextmanager
def open_sources(names: list[str]) -> Iterator[list[Source]]:
    """The named inputs, opened for binary reading; `-` is stdin (JSONL)."""
    with contextlib.ExitStack() as stack:
        sources = []
        for name in names:
            if name == "-":
                sources.append(Source("-", sys.stdin.buffer))
                continue
            try:
                stream = stack.enter_context(open(name, "rb"))
                size = os.fstat(stream.fileno()).st_size
            except OSError as exc:
                raise UsageError(f"cannot read {name}: {exc.strerror}") from None
            sources.append(Source(name, stream, size))
        yield sources


@contextlib.contextmanager
def reject_sink(ctx: Context, path: str | None) -> Iterator[Callable[[Reject], None]]:
    """Each invalid row: one line on stderr, and a JSONL record in `path` if given."""
    out: IO[str] | None = None
    if path is not None:
        try:
            out = open(path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write the rejects file {path}: {exc.strerror}") from None

    def on_reject(reject: Reject) -> None:
        ctx.warn(str(reject))
        if out is not None:
            out.write(json.dumps(reject.to_json(), ensure_ascii=False) + "\n")

    try:
        yield on_reject
    finally:
        if out is not None:
            out.close()


class Progress:
    """A one-line progress bar on stderr (only used when stderr is a terminal)."""

    WIDTH = 30

    def __init__(self, total: int | None) -> None:
        self.total = total
        self.started = time.monotonic()
        self._shown = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self._shown < 0.2:
            return
        self._shown = now
        mib = done / 2**20
        rate = mib / max(now - self.started, 1e-6)
        if self.total:
            filled = int(self.WIDTH * min(done / self.total, 1))
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            text = f"[{bar}] {100 * done / self.total:5.1f}%  {mib:,.1f} MiB  {rate:,.1f} MiB/s"
        else:
            text = f"{mib:,.1f} MiB  {rate:,.1f} MiB/s"
        sys.stderr.write(f"\r{text}")
        sys.stderr.flush()

    def close(self) -> None:
        sys.stderr.write("\r\x1b[K")
        sys.stderr.flush()
