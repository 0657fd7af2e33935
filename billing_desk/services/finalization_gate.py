"""What keeps a due draft invoice from being finalized, asked by the sync engine before it finalizes.

The corrections feature owns the rules (holds, corrections pending approval); the sync engine adds
its own check (drift between local lines and the Stripe invoice) on top.
"""

from __future__ import annotations

from sqlalchemy.orm import Session


def blockers(session: Session, customer_id: str, period: str) -> list[str]:
    """Plain-words reasons the period's invoice must stay a draft; empty when none.

    Until corrections exist nothing local can hold an invoice, so there is nothing to report.
    """
    del session, customer_id, period
    return []
