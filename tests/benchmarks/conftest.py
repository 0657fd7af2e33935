"""Benchmark size: BILLING_DESK_BENCH_SIZE=smoke (CI, well under a minute) or full (default)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def bench_size() -> str:
    size = os.environ.get("BILLING_DESK_BENCH_SIZE", "full")
    if size not in ("smoke", "full"):
        pytest.fail(f"BILLING_DESK_BENCH_SIZE must be smoke or full, not {size!r}")
    return size
