"""Stripe's answer to a push goes into the Stripe cache in the transaction that settles the push,
so the side-by-side view shows the line in sync at once (Stripe sends no event when a pending
item is updated; a pull would come much later)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from billing_desk.store import stripe_cache_repo
from billing_desk.stripe_gateway.types import StripeInvoiceItem


def record_item(s: Session, item: StripeInvoiceItem, now: datetime) -> None:
    stripe_cache_repo.record_pushed_item(
        s,
        item_id=item.id,
        stripe_customer=item.customer,
        invoice=item.invoice,
        amount=item.amount,
        currency=item.currency,
        description=item.description,
        metadata=item.metadata,
        at=now,
    )
