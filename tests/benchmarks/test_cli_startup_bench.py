"""How long the CLI takes to start, beside the bare interpreter measured in the same run.

Each command runs as users run it, `python -m billing_desk ...` in a fresh process, on a small
SQLite store made before timing (one customer with lines): `--help`, `lines`, `customers
search` and `corrections list`. The baseline is `python -c pass`, the floor any command pays.
Figures: median and best wall time over the runs (full: 15, smoke: 5), and the median's ratio
to the baseline's. Run under the shared lock, as everything timed on the shared machine:

    flock /tmp/bench.lock .venv/bin/python -m pytest tests/benchmarks/test_cli_startup_bench.py -s
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = {"smoke": 5, "full": 15}


def _store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    customers = tmp_path / "customers.jsonl"
    customers.write_text(
        json.dumps({"id": "c1", "name": "Acme Ltd", "email": "a@acme.test", "currency": "usd"})
        + "\n"
    )
    usage = tmp_path / "usage.jsonl"
    usage.write_text(
        "".join(
            json.dumps(
                {
                    "event_id": f"e{n}",
                    "customer": "c1",
                    "item": f"api.item{n % 3}",
                    "quantity": "2",
                    "unit_amount": "15",
                    "currency": "usd",
                    "occurred_at": "2026-01-05T10:00:00Z",
                }
            )
            + "\n"
            for n in range(30)
        )
    )
    for args in (["customers", "import", str(customers)], ["ingest", str(usage)]):
        _run(["-m", "billing_desk", "--db", url, *args])
    return url


def _run(args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, check=False
    )
    elapsed = time.perf_counter() - started
    assert done.returncode == 0, done.stderr
    return elapsed


def test_cli_startup(tmp_path: Path, bench_size: str) -> None:
    url = _store(tmp_path)
    cli = ["-m", "billing_desk", "--db", url]
    commands = {
        "python -c pass (baseline)": ["-c", "pass"],
        "--help": ["-m", "billing_desk", "--help"],
        "lines": [*cli, "--json", "lines", "--customer", "c1", "--period", "2026-01"],
        "customers search": [*cli, "--json", "customers", "search", "acme"],
        "corrections list": [*cli, "--json", "corrections", "list"],
    }
    runs = RUNS[bench_size]
    for args in commands.values():
        _run(args)  # warm the OS file cache and the bytecode cache
    times = {name: [_run(args) for _ in range(runs)] for name, args in commands.items()}
    base = statistics.median(times["python -c pass (baseline)"])
    print(f"\nCLI startup, {runs} runs each (wall time, seconds)")
    print(f"{'command':<28}{'median':>9}{'best':>9}{'ratio':>8}")
    for name, taken in times.items():
        median = statistics.median(taken)
        print(f"{name:<28}{median:>9.3f}{min(taken):>9.3f}{median / base:>8.1f}")
