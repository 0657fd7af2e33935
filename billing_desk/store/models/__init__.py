"""All mapped tables. Each module owns one concern's tables; importing this registers them all."""

from billing_desk.store.models.base import Base
from billing_desk.store.models.ledger import (
    Customer,
    Increment,
    IngestBatch,
    Line,
    OutboxOperation,
    Setting,
)

__all__ = ["Base", "Customer", "Increment", "IngestBatch", "Line", "OutboxOperation", "Setting"]

# Each concern's tables register themselves on import.
from billing_desk.store.models import corrections, stripe_cache, sync  # noqa: F401
