"""Keep Stripe secret keys out of every log line and every error text.

`redact` masks anything shaped like a secret or restricted key (`sk_…`, `rk_…`) and bearer
tokens; `install_log_redaction` makes every log record pass through it, whatever logger or
handler emits it (the stripe library's own loggers included).
"""

from __future__ import annotations

import logging
import re
from typing import Any

_SECRET = re.compile(r"\b(?:sk|rk)_[A-Za-z0-9_]{6,}|\bBearer\s+\S+", re.IGNORECASE)
MASK = "[redacted]"


def redact(text: str) -> str:
    return _SECRET.sub(MASK, text)


_installed = False


def install_log_redaction() -> None:
    """Wrap the log record factory so each record's final message is redacted (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed %-format: keep what we can, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later from exc_info: pre-render them redacted.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
