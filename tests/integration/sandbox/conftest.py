"""Fixtures for the sandbox's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One raw HTTP client (setting one up per request costs a TLS context each time)."""
    with httpx.Client(timeout=10) as client:
        yield client
