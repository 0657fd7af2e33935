"""Errors every layer raises, each carrying the CLI exit code of CONTRACT.md.

Messages are shown to users as they are: they name what is wrong and never carry a secret.
"""

from __future__ import annotations


class BillingDeskError(Exception):
    """Base of the errors a user is shown as one clear line (never a traceback)."""

    exit_code = 1


class InvalidInput(BillingDeskError):
    """A value or row the user gave is wrong; the message names the field."""

    exit_code = 1


class UsageError(BillingDeskError):
    exit_code = 2


class TransientWorkRemains(BillingDeskError):
    """Work is left that a later retry will finish (e.g. Stripe unreachable)."""

    exit_code = 3


class NeedsAttention(BillingDeskError):
    """A permanent failure a person must look at (a Stripe 4xx, a tampered audit trail)."""

    exit_code = 4


class ConfigurationError(BillingDeskError):
    """No key, DB unreachable, schema newer than the app, a corrupt or locked store."""

    exit_code = 5


class PermissionDenied(BillingDeskError):
    """The acting user's role does not allow the action (four-eyes, admin-only commands)."""

    exit_code = 1
