"""Ingest usage increments (CONTRACT.md "Usage increments") and keep compiled lines current.

One call reads one or more JSONL/CSV sources as a stream (a block at a time, so a 10-million-line
file never sits in memory), validates every row (`domain.ledger`), drops duplicates by
`event_id`, writes the new increments, adds them to their compiled lines and queues one coalesced
push per changed line, all in the caller's unit of work:

- atomic by default: one invalid row and nothing is written (the whole call rolls back);
- `skip_invalid=True`: valid rows are written and each invalid one goes to `on_reject`.

Memory is bounded by constants, not by input size: a block of input, the line deltas not yet
flushed (`LINE_FLUSH`), and small caches. A line's version grows once per call, however many
flushes touch it (`lines.last_batch_id`).
"""

from __future__ import annotations

import contextlib
import csv
import gc
import io
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from typing import Any, BinaryIO

from billing_desk.domain.errors import InvalidInput
from billing_desk.domain.ledger import (
    EXACT,
    FIELDS,
    REQUIRED,
    IncrementParser,
    IncrementRow,
    LineDelta,
    LineTooLarge,
    RowInvalid,
    billed_amount,
    compiled_amount,
    customer_problem,
)
from billing_desk.store.ledger_repo import LedgerStore, LineKey, LineWrite
from billing_desk.store.outbox_queue import LineChange, queue_line_pushes
from billing_desk.store.types import utc_text
from billing_desk.store.uow import UnitOfWork

BLOCK_BYTES = 1 << 20  # JSONL is read and validated a mebibyte at a time
CSV_BLOCK_ROWS = 5_000
MAX_LINE_BYTES = 64 * 1024  # far above any valid row (ids 255, description 500 characters)
LINE_FLUSH = 50_000  # distinct lines whose deltas are held before they are written (~650 B each)
CUSTOMER_CACHE = 200_000

ShownRow = str | dict[str, str] | None


@dataclass(frozen=True)
class Source:
    """One input: `name` as the user gave it (a path, or "-" for stdin), an open binary stream."""

    name: str
    stream: BinaryIO
    size: int | None = None  # for progress, when known

    @property
    def format(self) -> str:
        return "csv" if self.name.lower().endswith(".csv") else "jsonl"


@dataclass(frozen=True)
class Reject:
    """An invalid row: where it is, why, and the row itself as read."""

    source: str
    line: int
    reason: str
    row: ShownRow

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"file": self.source, "line": self.line, "reason": self.reason, "row": self.row}


@dataclass
class IngestSummary:
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    written: bool = False
    batch_id: int | None = None

    def to_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


def ingest(
    uow: UnitOfWork,
    sources: Sequence[Source],
    *,
    actor: str,
    skip_invalid: bool = False,
    on_reject: Callable[[Reject], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    line_flush: int = LINE_FLUSH,
) -> IngestSummary:
    """Ingest `sources` in one transaction; commits unless the call is atomic and a row failed.

    `on_reject` sees every invalid row as it is found; `on_progress` the bytes read so far.
    `line_flush` bounds the line deltas held in memory. The open `uow` must be a write unit
    of work.
    """
    started = datetime.now(UTC)
    store = LedgerStore.for_session(uow.session)
    store.prepare_ingest()
    batch_id = store.open_batch(actor, [s.name for s in sources], started)
    run = _Run(store, batch_id, skip_invalid, on_reject, started, line_flush)
    done = 0
    with _cyclic_gc_paused():
        for source in sources:
            blocks = _jsonl_blocks(source) if source.format == "jsonl" else _csv_blocks(source)
            for block, nbytes in blocks:
                run.take(source.name, block)
                done += nbytes
                if on_progress is not None:
                    on_progress(done)
        run.flush()
    summary = run.summary
    if summary.rejected and not skip_invalid:
        uow.rollback()
        summary.accepted = 0
        return summary
    store.close_batch(
        batch_id, datetime.now(UTC), summary.accepted, summary.duplicates, summary.rejected
    )
    uow.commit()
    summary.written, summary.batch_id = True, batch_id
    return summary


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Ingest allocates millions of short-lived tuples that never form reference cycles; the
    cyclic collector would scan them thousands of times for nothing (about a tenth of the run).
    Reference counting still frees everything at once; the collector resumes afterwards."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --- reading -----------------------------------------------------------------------------------


@dataclass
class _Block:
    """Rows of one block: valid rows with their line numbers, and how to show any row again."""

    rows: list[IncrementRow] = field(default_factory=list)
    numbers: Sequence[int] = field(default_factory=list)
    invalid: list[tuple[int, str]] = field(default_factory=list)
    shown: Callable[[int], ShownRow] = lambda _n: None


def _split_utf8(data: bytes) -> list[str | bytes | None]:
    """Lines of `data` as text; a line that is not UTF-8 stays bytes, to be reported."""
    try:
        return data.decode("utf-8").split("\n")  # type: ignore[return-value]
    except UnicodeDecodeError:
        lines: list[str | bytes | None] = []
        for raw in data.split(b"\n"):
            try:
                lines.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                lines.append(raw)
        return lines


Chunk = str | list[str | bytes | None]


def read_jsonl_chunks(stream: BinaryIO) -> Iterator[tuple[Chunk, int]]:
    """(chunk, bytes read) per block of whole lines. A chunk is the block's text, or, when some
    line is not UTF-8 or overlong, its lines (bytes for a line that is not UTF-8, None for one
    longer than MAX_LINE_BYTES, which no valid row needs; it is dropped as it streams by)."""
    carry = b""
    overlong = False
    while block := stream.read(BLOCK_BYTES):
        data = carry + block if carry else block
        cut = data.rfind(b"\n")
        if cut < 0:
            overlong = overlong or len(data) > MAX_LINE_BYTES
            carry = b"" if overlong else data
            yield [], len(block)
            continue
        chunk = _decoded(data[:cut])
        if overlong:
            chunk = _lines(chunk)
            chunk[0], overlong = None, False
        carry = data[cut + 1 :]
        if len(carry) > MAX_LINE_BYTES:
            overlong, carry = True, b""
        yield chunk, len(block)
    if overlong:
        yield [None], 0
    elif carry:
        yield _decoded(carry), 0


def _decoded(data: bytes) -> Chunk:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return _split_utf8(data)


def _lines(chunk: Chunk) -> list[str | bytes | None]:
    return chunk.split("\n") if isinstance(chunk, str) else chunk  # type: ignore[return-value]


def read_jsonl_lines(stream: BinaryIO) -> Iterator[tuple[list[str | bytes | None], int]]:
    """(lines, bytes read) per block: `read_jsonl_chunks` split into lines."""
    for chunk, nbytes in read_jsonl_chunks(stream):
        yield _lines(chunk), nbytes


def _jsonl_blocks(source: Source) -> Iterator[tuple[_Block, int]]:
    parser = IncrementParser()
    parse = parser.parse_json_line
    number = 0
    for chunk, nbytes in read_jsonl_chunks(source.stream):
        first = number + 1
        rows = parser.parse_json_block(chunk) if isinstance(chunk, str) and chunk else None
        if rows is not None:  # the common case: every line valid and on the fast path
            number += len(rows)
            block = _Block(rows, range(first, number + 1), shown=_shown_text(chunk, first))
            yield block, nbytes
            continue
        lines = _lines(chunk)
        number += len(lines)
        block = _Block(shown=_shown_line(lines, first))
        block.rows, block.numbers = _parse_each(parse, lines, first, block.invalid)
        yield block, nbytes


def _parse_each(
    parse: Callable[[str], IncrementRow],
    lines: list[str | bytes | None],
    first: int,
    invalid: list[tuple[int, str]],
) -> tuple[list[IncrementRow], list[int]]:
    rows: list[IncrementRow] = []
    numbers: list[int] = []
    for number, text in enumerate(lines, first):
        if text is None or (isinstance(text, str) and len(text) > MAX_LINE_BYTES):
            invalid.append((number, f"line is longer than {MAX_LINE_BYTES} bytes"))
        elif isinstance(text, bytes):
            invalid.append((number, "line is not UTF-8 text"))
        else:
            try:
                rows.append(parse(text))
            except RowInvalid as exc:
                invalid.append((number, str(exc)))
            else:
                numbers.append(number)
    return rows, numbers


def _shown_text(text: Chunk, first: int) -> Callable[[int], ShownRow]:
    """How to show a row of a block that was parsed whole: split it only if a row is shown."""
    split: list[Callable[[int], ShownRow]] = []

    def shown(number: int) -> ShownRow:
        if not split:
            split.append(_shown_line(_lines(text), first))
        return split[0](number)

    return shown


def _shown_line(lines: list[str | bytes | None], first: int) -> Callable[[int], ShownRow]:
    def shown(number: int) -> ShownRow:
        text = lines[number - first]
        if isinstance(text, bytes):
            return text.decode("utf-8", errors="replace")
        return text

    return shown


class _CountingReader(io.RawIOBase):
    """Counts the bytes a text reader pulls from a binary stream (progress for CSV)."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


def _csv_header(source: Source, header: list[str]) -> list[str]:
    where = f"{source.name}:1"
    if header and header[0].startswith("\ufeff"):
        header = [header[0][1:], *header[1:]]
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise InvalidInput(f"{where}: unknown column {unknown[0]!r} (columns: {', '.join(FIELDS)})")
    repeated = [name for name in header if header.count(name) > 1]
    if repeated:
        raise InvalidInput(f"{where}: column {repeated[0]!r} appears more than once")
    missing = [name for name in FIELDS if name in REQUIRED and name not in header]
    if missing:
        raise InvalidInput(f"{where}: missing column {missing[0]!r}")
    return header


def _csv_blocks(source: Source) -> Iterator[tuple[_Block, int]]:
    counter = _CountingReader(source.stream)
    text = io.TextIOWrapper(
        io.BufferedReader(counter), encoding="utf-8", errors="surrogateescape", newline=""
    )
    reader = csv.reader(text, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput(f"{source.name}:1: not a CSV header ({exc})") from None
    if header is None:
        return
    header = _csv_header(source, header)
    parser = IncrementParser()
    reported = 0
    ended = False
    while not ended:
        records: dict[int, dict[str, str]] = {}
        numbers: list[int] = []
        block = _Block(numbers=numbers, shown=records.get)
        for _ in range(CSV_BLOCK_ROWS):
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                ended = True
                break
            except csv.Error as exc:
                block.invalid.append((start, f"not valid CSV ({exc})"))
                continue
            row = dict(zip(header, record, strict=False))
            records[start] = row
            try:
                block.rows.append(_csv_row(parser, header, record, row))
            except RowInvalid as exc:
                block.invalid.append((start, str(exc)))
            else:
                numbers.append(start)
        yield block, counter.count - reported
        reported = counter.count


def _csv_row(
    parser: IncrementParser, header: list[str], record: list[str], row: dict[str, str]
) -> IncrementRow:
    if not record or not any(value.strip() for value in record):
        raise RowInvalid("empty line")
    if len(record) != len(header):
        raise RowInvalid(f"has {len(record)} fields; the header has {len(header)}")
    try:
        "".join(record).encode("utf-8")
    except UnicodeEncodeError:
        raise RowInvalid("line is not UTF-8 text") from None
    return parser.parse_fields({name: value for name, value in row.items() if value != ""})


# --- validating, deduplicating, writing, compiling ------------------------------------------


def _conflict(event_id: str, before: IncrementRow, now: IncrementRow, where: str) -> str:
    names = FIELDS[1:]
    diffs = [
        f"{name} {old!r} then {new!r}"
        for name, old, new in zip(names, before[1:], now[1:], strict=True)
        if old != new
    ]
    return (
        f"event_id: conflicting duplicate: {event_id!r} was {where} with different content "
        f"({'; '.join(diffs)})"
    )


class _Run:
    """The state of one ingest call."""

    def __init__(
        self,
        store: LedgerStore,
        batch_id: int,
        skip_invalid: bool,
        on_reject: Callable[[Reject], None] | None,
        now: datetime,
        line_flush: int,
    ) -> None:
        self.store = store
        self.line_flush = line_flush
        self.batch_id = batch_id
        self.skip_invalid = skip_invalid
        self.on_reject = on_reject
        self.now = now
        self.now_text = utc_text(now)
        self.summary = IngestSummary()
        self.customers: dict[str, str] = {}
        self.pending: dict[LineKey, LineDelta] = {}
        self._rejects: list[Reject] = []

    @property
    def doomed(self) -> bool:
        """An atomic call with an invalid row writes nothing: compiling lines is pointless."""
        return self.summary.rejected > 0 and not self.skip_invalid

    def reject(self, source: str, number: int, reason: str, row: ShownRow) -> None:
        self.summary.rejected += 1
        self._rejects.append(Reject(source, number, reason, row))
        if self.doomed:
            self.pending.clear()

    def take(self, source: str, block: _Block) -> None:
        """Check, insert and compile one parsed block."""
        try:
            self._take(source, block)
        finally:
            # A block's rejects are found in several passes; report them in line order.
            if self.on_reject is not None:
                for reject in sorted(self._rejects, key=lambda r: r.line):
                    self.on_reject(reject)
            self._rejects.clear()

    def _take(self, source: str, block: _Block) -> None:
        for number, reason in block.invalid:
            self.reject(source, number, reason, block.shown(number))
        if not block.rows:
            return
        rows, numbers = self._known_customers_only(source, block)
        # Optimistic: a block of new events goes in as is; only if an event_id turns out to be
        # taken (already stored, or twice in the block) is the block sorted out row by row.
        if rows and not self.store.insert_increments(rows, self.batch_id):
            rows, numbers = self._once_each(source, rows, numbers, block)
            rows = self._without_stored_events(source, rows, numbers, block)
            if rows and not self.store.insert_increments(rows, self.batch_id):
                raise RuntimeError("an event_id appeared while the write transaction was held")
        self.summary.accepted += len(rows)
        self._add_to_lines(rows)
        if len(self.pending) >= self.line_flush:
            self.flush()

    def _known_customers_only(
        self, source: str, block: _Block
    ) -> tuple[list[IncrementRow], Sequence[int]]:
        """The block's rows whose customer is imported and bills in the row's currency."""
        customers = self.customers
        rows = block.rows
        get = customers.get
        doubtful = [row for row in rows if get(row[1]) != row[6]]
        if doubtful:  # customers this call has not met yet (or mismatched rows)
            unknown = {row[1] for row in doubtful if row[1] not in customers}
            if len(customers) + len(unknown) > CUSTOMER_CACHE:
                customers.clear()
                unknown, doubtful = {row[1] for row in rows}, rows
            customers.update(self.store.customer_currencies(unknown))
            doubtful = [row for row in doubtful if get(row[1]) != row[6]]
        if not doubtful:
            return rows, block.numbers  # the common case
        kept: list[IncrementRow] = []
        numbers: list[int] = []
        for row, number in zip(rows, block.numbers, strict=True):
            currency = get(row[1])
            if currency == row[6]:
                kept.append(row)
                numbers.append(number)
                continue
            problem = customer_problem(row, currency)
            assert problem is not None
            self.reject(source, number, str(problem), block.shown(number))
        return kept, numbers

    def _once_each(
        self, source: str, rows: list[IncrementRow], numbers: Sequence[int], block: _Block
    ) -> tuple[list[IncrementRow], list[int]]:
        """The rows with each event_id once: a repeat is a duplicate or, if it differs, a
        conflicting duplicate."""
        seen: dict[str, IncrementRow] = {}
        kept: list[IncrementRow] = []
        kept_numbers: list[int] = []
        for row, number in zip(rows, numbers, strict=True):
            first = seen.get(row[0])
            if first is None:
                seen[row[0]] = row
                kept.append(row)
                kept_numbers.append(number)
            elif first == row:
                self.summary.duplicates += 1
            else:
                reason = _conflict(row[0], first, row, "given earlier in this call")
                self.reject(source, number, reason, block.shown(number))
        return kept, kept_numbers

    def _without_stored_events(
        self, source: str, rows: list[IncrementRow], numbers: Sequence[int], block: _Block
    ) -> list[IncrementRow]:
        stored = self.store.existing_events([row[0] for row in rows])
        fresh: list[IncrementRow] = []
        for row, number in zip(rows, numbers, strict=True):
            before = stored.get(row[0])
            if before is None:
                fresh.append(row)
            elif before == row:
                self.summary.duplicates += 1
            else:
                reason = _conflict(row[0], before, row, "ingested before")
                self.reject(source, number, reason, block.shown(number))
        return fresh

    def _add_to_lines(self, rows: list[IncrementRow]) -> None:
        if self.doomed:
            return
        pending = self.pending
        get = pending.get
        with localcontext(EXACT):  # exact sums: an inexact one would raise, not round
            for row in rows:
                at = row[7]
                key = (row[1], at[:7], row[2], row[5], row[6])
                delta = get(key)
                if delta is None:
                    pending[key] = LineDelta(Decimal(row[4]), 1, at, at, row[3])
                    continue
                delta.quantity += Decimal(row[4])
                delta.count += 1
                if at > delta.last_usage:
                    delta.last_usage = at
                elif at < delta.first_usage:
                    delta.first_usage = at

    def flush(self) -> None:
        """Write the held line deltas: new lines, or sums added to stored ones; queue pushes."""
        pending = self.pending
        if not pending or self.doomed:
            pending.clear()
            return
        states = self.store.fetch_lines(list(pending))
        new_ids = iter(self.store.new_line_ids(len(pending) - len(states)))
        writes: list[LineWrite] = []
        pushes: list[LineChange] = []
        batch_id, now = self.batch_id, self.now_text
        for key, delta in pending.items():
            state = states.get(key)
            if state is None:
                amount = _compiled(key, delta.quantity)
                line_id = next(new_ids)
                writes.append(
                    LineWrite(
                        line_id,
                        key,
                        delta.description,
                        delta.quantity,
                        delta.count,
                        amount,
                        amount,
                        1,
                        now,
                        delta.first_usage,
                        delta.last_usage,
                        is_new=True,
                    )
                )
                pushes.append(LineChange(line_id, key[0], 1))
                continue
            quantity = EXACT.add(state.quantity, delta.quantity)
            compiled = _compiled(key, quantity)
            # The first change of this call makes a new version; later flushes join it.
            bumped = state.last_batch_id != batch_id
            version = state.version + 1 if bumped else state.version
            writes.append(
                LineWrite(
                    state.id,
                    key,
                    "",
                    quantity,
                    state.increment_count + delta.count,
                    compiled,
                    billed_amount(
                        compiled,
                        old_compiled=state.compiled_amount,
                        old_amount=state.amount,
                        voided=state.voided,
                    ),
                    version,
                    state.dirty_since or now,
                    min(state.first_usage_at or delta.first_usage, delta.first_usage),
                    max(state.last_usage_at or delta.last_usage, delta.last_usage),
                    is_new=False,
                )
            )
            if bumped:
                pushes.append(LineChange(state.id, key[0], version))
        self.store.write_lines(writes, batch_id, now)
        queue_line_pushes(self.store.session, pushes, self.now)
        pending.clear()


def _compiled(key: LineKey, quantity: Decimal) -> int:
    try:
        return compiled_amount(quantity, Decimal(key[3]), key[4])
    except LineTooLarge as exc:
        customer, period, item = key[:3]
        raise InvalidInput(f"line {item} of customer {customer!r} for {period}: {exc}") from None
