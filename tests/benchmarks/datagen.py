"""Deterministic test data of realistic shape: customers, hourly usage increments, search queries.

Every value is a pure function of (seed, index), so customer i can be rebuilt without keeping the
others in memory and two runs with the same seed write byte-identical files.

Shape:
- customer i has id f"c{i:07d}", a first and last name from common-name lists (so a name prefix
  matches many rows), an email derived from the name and i at a handful of domains, a `cus_` id
  for ~70% of them, and currency usd (~85%), eur (~12%) or jpy (~3%);
- each customer uses 1-4 items at a fixed price per currency; usage arrives hourly: each hour
  the active customers report one increment per item. The active set slides slowly (a customer
  stays active about two days), so a compiled line gathers tens of increments, as lines do
  when a platform reports hourly usage (`increments()` says exactly how).

As a library: `customers()`, `increments()`, `write_jsonl()`, `write_csv()`, `search_queries()`.
As a program: `python -m tests.benchmarks.datagen --out DIR [--customers N] [--increments M]`.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

DEFAULT_CUSTOMERS = 1_000_000
DEFAULT_INCREMENTS = 10_000_000
DEFAULT_SEED = 20260101
START = datetime(2026, 1, 1, tzinfo=UTC)
HOURS = 720  # one 30-day month of hourly usage: January 2026, one period
STAY_HOURS = 48  # how long a customer stays active before the window moves past it


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = _words(
    "james mary robert patricia john jennifer michael linda david elizabeth william barbara "
    "richard susan joseph jessica thomas sarah charles karen christopher lisa daniel nancy "
    "matthew betty anthony margaret mark sandra donald ashley steven kimberly paul emily "
    "andrew donna joshua michelle kenneth carol kevin amanda brian dorothy george melissa "
    "timothy deborah ronald stephanie edward rebecca jason sharon jeffrey laura ryan cynthia "
    "jacob kathleen gary amy nicholas angela eric shirley jonathan anna stephen brenda larry "
    "pamela justin emma scott nicole brandon helen benjamin samantha samuel katherine gregory "
    "christine alexander debra frank rachel patrick carolyn raymond janet jack maria dennis "
    "olivia jerry heather tyler diane aaron julie jose joyce adam victoria nathan kelly henry "
    "christina douglas lauren zachary joan peter evelyn kyle judith noah megan ethan andrea "
    "jeremy cheryl walter hannah christian jacqueline keith martha roger gloria terry teresa "
    "austin ann sean sara gerald madison carl frances harold kathryn dylan janice arthur jean "
    "lawrence abigail jordan alice jesse judy bryan sophia billy grace bruce denise gabriel "
    "amber joe doris logan marilyn albert danielle willie beverly alan isabella eugene theresa "
    "russell diana vincent natalie wayne brittany roy charlotte ralph marie bobby kayla louis "
    "alexis philip lori johnny yuki hiroshi sofia lukas elena mateo chloe lena marco"
)
LAST_NAMES = _words(
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright scott "
    "torres nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter "
    "roberts gomez phillips evans turner diaz parker cruz edwards collins reyes stewart morris "
    "morales murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly "
    "howard ramos kim cox ward richardson watson brooks chavez wood james bennett gray mendoza "
    "ruiz hughes price alvarez castillo sanders patel myers long ross foster jimenez powell "
    "jenkins perry russell sullivan bell coleman butler henderson barnes gonzales fisher "
    "vasquez simmons romero jordan patterson alexander hamilton graham reynolds griffin "
    "wallace moreno west cole hayes bryant herrera gibson ellis tran medina aguilar stevens "
    "murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy "
    "wells vargas henry chen freeman webb tucker guzman burns crawford olson simpson porter "
    "hunter gordon mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner "
    "black robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels "
    "ferguson nichols stephens soto weaver ryan gardner payne grant dunn kelley spencer "
    "hawkins arnold pierce hansen peters santos hart bradley knight elliott cunningham duncan "
    "muller schneider fischer weber tanaka suzuki sato rossi bianchi dubois moreau"
)
DOMAINS = ("example.com", "mail.example.org", "corp.example.net", "example.io", "shop.example")
# Items and their unit prices in minor units per currency (usd/eur cents, jpy yen).
ITEMS = (
    ("api.calls", "API calls", {"usd": "0.05", "eur": "0.045", "jpy": "0.08"}),
    ("storage.gb-hours", "Storage (GB-hours)", {"usd": "0.0125", "eur": "0.011", "jpy": "0.02"}),
    ("compute.vcpu-hours", "Compute (vCPU-hours)", {"usd": "4.2", "eur": "3.9", "jpy": "6"}),
    ("egress.gb", "Network egress (GB)", {"usd": "9", "eur": "8", "jpy": "13"}),
    ("seats", "Seats", {"usd": "1200", "eur": "1100", "jpy": "1800"}),
    ("sms:outbound", "Outbound SMS", {"usd": "0.75", "eur": "0.7", "jpy": "1"}),
)
CUSTOMER_FIELDS = ("id", "name", "email", "currency", "stripe_customer_id")
INCREMENT_FIELDS = (
    "event_id",
    "customer",
    "item",
    "description",
    "quantity",
    "unit_amount",
    "currency",
    "occurred_at",
)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MASK = (1 << 64) - 1


def _mix(value: int, salt: int) -> int:
    """splitmix64: a fast, well-spread hash of (value, salt), the source of all randomness here."""
    z = (value * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def customer_id(i: int) -> str:
    return f"c{i:07d}"


@dataclass(frozen=True)
class CustomerShape:
    id: str
    name: str
    email: str
    currency: str
    stripe_customer_id: str | None
    items: tuple[int, ...]  # indexes into ITEMS


def customer(i: int, seed: int = DEFAULT_SEED) -> CustomerShape:
    h = _mix(i, seed)
    first = FIRST_NAMES[h % len(FIRST_NAMES)]
    last = LAST_NAMES[(h >> 12) % len(LAST_NAMES)]
    domain = DOMAINS[(h >> 24) % len(DOMAINS)]
    bucket = (h >> 32) % 100
    currency = "usd" if bucket < 85 else "eur" if bucket < 97 else "jpy"
    stripe_id = None
    if (h >> 40) % 10 < 7:
        s = _mix(i, seed + 1)
        stripe_id = "cus_" + "".join(_BASE62[(s >> (6 * k)) % 62] for k in range(10))
        stripe_id += f"{i:x}"  # keeps every id unique whatever the hash does
    n_items = 1 + (h >> 48) % 4
    start = (h >> 52) % len(ITEMS)
    items = tuple((start + k) % len(ITEMS) for k in range(n_items))
    return CustomerShape(
        id=customer_id(i),
        name=f"{first.title()} {last.title()}",
        email=f"{first}.{last}{i}@{domain}",
        currency=currency,
        stripe_customer_id=stripe_id,
        items=items,
    )


def customers(n: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED) -> Iterator[dict[str, Any]]:
    """Customer rows in the shape `customers import` reads."""
    for i in range(n):
        c = customer(i, seed)
        yield {
            "id": c.id,
            "name": c.name,
            "email": c.email,
            "currency": c.currency,
            "stripe_customer_id": c.stripe_customer_id,
        }


def _quantity(h: int, item: int) -> str:
    """A realistic quantity string: whole counts for calls and seats, decimals for metered use."""
    code = ITEMS[item][0]
    if code == "api.calls":
        return str(1 + h % 5000)
    if code == "seats":
        return str(1 + h % 20)
    if code == "sms:outbound":
        return str(h % 40)
    whole, frac = h % 50, (h >> 8) % 1000
    return f"{whole}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(whole)


def increments(
    m: int = DEFAULT_INCREMENTS,
    n_customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    *,
    hours: int = HOURS,
    stay_hours: int = STAY_HOURS,
) -> Iterator[dict[str, str]]:
    """`m` usage increments in time order, as a platform's hourly export would carry them.

    Every hour, each active customer reports one increment per item it uses. The active set is
    a window over the customers that slides a little every hour: each customer stays active
    for about `stay_hours` consecutive hours, then makes room for the next ones. The window is
    sized so that `hours` hours of usage make `m` increments (the stream simply runs on into
    the next month if the item mix asks for more hours).
    """
    mean_items = sum(range(1, 5)) / 4  # customers use 1-4 items, evenly
    active = max(1, min(n_customers, round(m / hours / mean_items)))
    drift = max(1, active // stay_hours)
    window: dict[int, CustomerShape] = {}
    k = 0
    hour = 0
    while k < m:
        stamp = (START + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
        first = hour * drift
        for gone in [i for i in window if i < first]:
            del window[gone]
        for i in range(first, first + active):
            c = window.get(i)
            if c is None:
                c = window[i] = customer(i % n_customers, seed)
            for item in c.items:
                code, description, prices = ITEMS[item]
                yield {
                    "event_id": f"evt_{seed:x}_{k:09d}",
                    "customer": c.id,
                    "item": code,
                    "description": description,
                    "quantity": _quantity(_mix(k, seed + 2), item),
                    "unit_amount": prices[c.currency],
                    "currency": c.currency,
                    "occurred_at": stamp,
                }
                k += 1
                if k >= m:
                    return
        hour += 1


def _json_line(row: dict[str, Any]) -> str:
    # Hand-written JSON (values here never need escaping beyond plain ASCII) keeps generation fast.
    parts = []
    for key, value in row.items():
        if value is None:
            continue
        parts.append(f'"{key}":"{value}"')
    return "{" + ",".join(parts) + "}\n"


def write_jsonl(rows: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    buffer: list[str] = []
    for row in rows:
        buffer.append(_json_line(row))
        count += 1
        if len(buffer) >= 10_000:
            out.write("".join(buffer))
            buffer.clear()
    out.write("".join(buffer))
    return count


def write_csv(rows: Iterable[dict[str, Any]], out: TextIO, fields: Iterable[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    count = 0
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        count += 1
    return count


def write_files(
    out_dir: Path,
    n_customers: int = DEFAULT_CUSTOMERS,
    m_increments: int = DEFAULT_INCREMENTS,
    seed: int = DEFAULT_SEED,
    fmt: str = "jsonl",
) -> tuple[Path, Path]:
    """customers.<fmt> and increments.<fmt> in `out_dir`; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cust_path = out_dir / f"customers.{fmt}"
    inc_path = out_dir / f"increments.{fmt}"
    with cust_path.open("w", encoding="utf-8", newline="") as f:
        rows = customers(n_customers, seed)
        if fmt == "csv":
            write_csv(rows, f, CUSTOMER_FIELDS)
        else:
            write_jsonl(rows, f)
    with inc_path.open("w", encoding="utf-8", newline="") as f:
        incs = increments(m_increments, n_customers, seed)
        if fmt == "csv":
            write_csv(incs, f, INCREMENT_FIELDS)
        else:
            write_jsonl(incs, f)
    return cust_path, inc_path


@dataclass(frozen=True)
class SearchQuery:
    """One query of the published search set; `expect` is the customer id an exact hit must
    rank first (None for prefix queries, which match many customers)."""

    kind: str
    text: str
    expect: str | None = None


SEARCH_KINDS = (
    "name_prefix",
    "multi_word",
    "email_exact",
    "email_partial",
    "stripe_id",
    "customer_id",
)


def search_queries(
    n_customers: int = DEFAULT_CUSTOMERS, seed: int = DEFAULT_SEED, per_kind: int = 50
) -> list[SearchQuery]:
    """The published mixed query set: `per_kind` queries of each kind in SEARCH_KINDS,
    interleaved so any prefix of the list is itself mixed."""
    by_kind: dict[str, list[SearchQuery]] = {kind: [] for kind in SEARCH_KINDS}
    j = 0
    while any(len(v) < per_kind for v in by_kind.values()):
        h = _mix(j, seed + 3)
        c = customer(h % n_customers, seed)
        first, last = c.name.lower().split()
        local = c.email.split("@")[0]
        candidates = {
            # 2-4 letters of a common first or last name: thousands of matches at full size.
            "name_prefix": (first if j % 2 else last)[: 2 + j % 3],
            # Both words, the second one as a prefix, as an agent types "sarah joh".
            "multi_word": f"{first} {last[: 3 + j % 3]}",
            "email_exact": c.email,
            "email_partial": local[: max(4, len(local) - 3)],
            "stripe_id": c.stripe_customer_id or "",
            "customer_id": c.id,
        }
        exact = {"email_exact", "stripe_id", "customer_id"}
        for kind, text in candidates.items():
            if text and len(by_kind[kind]) < per_kind:
                by_kind[kind].append(SearchQuery(kind, text, c.id if kind in exact else None))
        j += 1
    return [by_kind[kind][i] for i in range(per_kind) for kind in SEARCH_KINDS]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="directory to write into")
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--increments", type=int, default=DEFAULT_INCREMENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    args = parser.parse_args(argv)
    paths = write_files(args.out, args.customers, args.increments, args.seed, args.format)
    sys.stdout.write("".join(f"{p}\n" for p in paths))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
