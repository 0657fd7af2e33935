"""Reading and writing the team-wide settings row by row (one key per setting)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing_desk.domain.settings import Settings
from billing_desk.store.models import Setting


def load_settings(session: Session) -> Settings:
    stored = {row.key: row.value for row in session.scalars(select(Setting))}
    return Settings.from_json(stored)


def save_setting(session: Session, key: str, value: Any, actor: str) -> Any:
    """Set one setting (JSON form, as `Settings.to_json` gives it); returns the previous value."""
    if key not in Settings().to_json():
        from billing_desk.domain.errors import InvalidInput

        raise InvalidInput(f"unknown setting {key!r}")
    Settings.from_json({key: value})  # validates the value's shape before anything is written
    row = session.get(Setting, key)
    before = None if row is None else row.value
    now = datetime.now(UTC)
    if row is None:
        session.add(Setting(key=key, value=value, updated_at=now, updated_by=actor))
    else:
        row.value, row.updated_at, row.updated_by = value, now, actor
    return before
