"""`corrections preview --stripe`: what Stripe itself would compute for a proposal.

Its own module because only this option needs the Stripe gateway (stripe-python, aiohttp).
"""

from __future__ import annotations

from billing_desk.cli.context import Context
from billing_desk.config import stripe_api_key
from billing_desk.domain.corrections import Proposal
from billing_desk.domain.errors import ConfigurationError
from billing_desk.domain.money import format_money
from billing_desk.domain.settings import Settings
from billing_desk.store.uow import UnitOfWork
from billing_desk.stripe_gateway import (
    GatewayConfig,
    RateLimiter,
    RetryPolicy,
    TransientStripeError,
    install_log_redaction,
    open_gateway,
)
from billing_desk.sync.preview import StripePreview, stripe_preview


async def stripe_side(ctx: Context, proposal: Proposal, who: str) -> StripePreview | None:
    install_log_redaction()
    key = stripe_api_key(ctx.secrets)
    if not key:
        raise ConfigurationError(
            "no Stripe key for --stripe: set STRIPE_API_KEY or store it in the OS keyring "
            "(service billing-desk, entry stripe-api-key)"
        )
    # Someone is waiting at the prompt: a short timeout and one retry, not the worker's patience.
    config = GatewayConfig(
        key, ctx.options.stripe_base, timeout_s=10, retry=RetryPolicy(attempts=2, cap_s=1.0)
    )
    store = ctx.engine()
    try:
        async with open_gateway(config, RateLimiter(Settings().rate_limit_test)) as gateway:
            return await stripe_preview(gateway, lambda: UnitOfWork(store), proposal, who)
    except TransientStripeError as exc:
        raise TransientStripeError(
            f"no Stripe preview: {exc.message}; the local preview above still holds, "
            "try --stripe again later",
            endpoint=exc.endpoint,
            http_status=exc.http_status,
            code=exc.code,
        ) from None


def describe(found: StripePreview | None) -> str:
    if found is None:
        return "stripe: nothing to preview for this kind"
    code = found.currency
    verdict = "matches" if found.matches else "MISMATCH with the local preview"
    text = (
        f"stripe ({found.source}): {format_money(found.total_before, code)} -> "
        f"{format_money(found.total_after, code)} (change {format_money(found.change, code)}); "
        f"{verdict}"
    )
    note = found.credit_note
    if note is not None:
        text += (
            f"; amount remaining {format_money(note.amount_remaining_before, code)} -> "
            f"{format_money(note.amount_remaining_after, code)}, to customer balance "
            f"{format_money(note.customer_balance_amount, code)}"
        )
    return text
