"""The demo account (`--seed demo`): believable customers, invoices in every state, credit
notes and balances, created through the API's own validation so it is all consistent."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from billing_desk.sandbox.sandbox import Sandbox

DEMO_API_KEY = "sk_test_billingdeskdemo0000000000000000"


def demo_customers() -> list[dict[str, Any]]:
    return []


def seed_demo(sandbox: Sandbox) -> None:
    sandbox.runtime_for_key(DEMO_API_KEY)
