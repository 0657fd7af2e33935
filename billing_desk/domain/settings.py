"""Team-wide settings with their defaults. Stored in the `settings` table, shared by every desk."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

# Limits are in the invoice currency's major unit ("25.00" USD); a role without a limit for a
# currency uses its "*" entry; a role absent from the table may not apply money-moving corrections
# without approval.
DEFAULT_LIMITS: dict[str, dict[str, Decimal]] = {
    "agent": {"*": Decimal("25.00")},
    "lead": {"*": Decimal("1000000000")},
    "admin": {"*": Decimal("1000000000")},
}


@dataclass(frozen=True)
class Settings:
    sync_interval: timedelta = timedelta(hours=24)
    finalize_grace: timedelta = timedelta(hours=24)
    # Stripe's documented budgets are 25/s (test) and 100/s (live); stay under them.
    rate_limit_test: float = 20.0
    rate_limit_live: float = 80.0
    # Approvals whose invoice finalizes within this window are flagged.
    approval_warning: timedelta = timedelta(hours=4)
    limits: dict[str, dict[str, Decimal]] = field(default_factory=lambda: DEFAULT_LIMITS)

    def limit_for(self, role: str, currency: str) -> Decimal | None:
        """The largest impact (major units) `role` may apply without approval, or None."""
        table = self.limits.get(role)
        if table is None:
            return None
        return table.get(currency.lower(), table.get("*"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, timedelta):
                out[f.name] = int(value.total_seconds())
            elif f.name == "limits":
                out[f.name] = {r: {c: str(v) for c, v in t.items()} for r, t in value.items()}
            else:
                out[f.name] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        """Settings from stored values; unknown keys are ignored, missing keys keep defaults."""
        base = cls()
        changes: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            raw = data[f.name]
            current = getattr(base, f.name)
            if isinstance(current, timedelta):
                changes[f.name] = timedelta(seconds=int(raw))
            elif f.name == "limits":
                changes[f.name] = {
                    r: {c: Decimal(str(v)) for c, v in t.items()} for r, t in raw.items()
                }
            else:
                changes[f.name] = type(current)(raw)
        return replace(base, **changes)
