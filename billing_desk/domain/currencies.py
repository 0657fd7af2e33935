"""Stripe's currency table: which currencies it supports and how many decimals each has in its API.

This is the one place that knows Stripe's currency rules (https://docs.stripe.com/currencies):

- Amounts are integers in the currency's minor unit: cents for USD (1000 = 10.00 USD).
- Zero-decimal currencies (the "Zero-decimal currencies" list) have no minor unit: 500 JPY is 500.
- Three-decimal currencies (BHD, JOD, KWD, OMR, TND): Stripe's payment partners need the last
  digit to be 0, so amounts must be rounded to a multiple of 10 (5.124 KWD -> 5120 or 5130).
- Special cases (the "Special cases" table):
  - ISK stays a two-decimal currency in the API (100 = 1 ISK) but, since 14 April 2023, card
    networks only accept whole krónur: charged amounts must be divisible by 100
    (https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds).
  - HUF and TWD are two-decimal for charges and invoices; only payouts are whole units
    (divisible by 100), which Billing Desk never makes, so `payout_step` records it.
  - UGX is on the zero-decimal list, yet the special-cases table says that for backwards
    compatibility the API still takes it as a two-decimal value whose decimals are always 00
    ("to charge 5 UGX, provide an amount value of 500"): the same rule as ISK.

The table below is Stripe's presentment currencies (card payments) as of 2026; a currency not in
it is refused at the boundary (`currency()` raises `InvalidInput`).
"""

from __future__ import annotations

from dataclasses import dataclass

from billing_desk.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Currency:
    """One currency as Stripe's API sees it.

    `exponent`: decimal places of the minor unit (0, 2 or 3). `step`: charged amounts must be a
    multiple of this many minor units (10 for three-decimal currencies, 100 for ISK, else 1).
    `payout_step`: the same for payouts, recorded for completeness (HUF, TWD: 100).
    """

    code: str
    exponent: int
    step: int = 1
    payout_step: int = 1

    @property
    def minor_per_major(self) -> int:
        return int(10**self.exponent)


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


ZERO_DECIMAL = _codes("bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf")
THREE_DECIMAL = _codes("bhd jod kwd omr tnd")
# Stripe's own lists. UGX is on the zero-decimal one but its API form is two-decimal (_SPECIAL).
# Two-decimal currencies Stripe presents (card payments), ISO 4217 codes in lower case.
_TWO_DECIMAL = _codes(
    """
    usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd
    cad cdf chf cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd
    hnl htg huf idr ils inr isk jmd kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt
    mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd pab pen pgk php pkr pln qar ron rsd rub
    sar sbd scr sek sgd shp sle sos srd std szl thb tjs top try ttd twd tzs uah uyu uzs wst xcd
    yer zar zmw
    """
)
_SPECIAL = {
    # Whole units only, though still two-decimal in the API (see the module docstring).
    "isk": Currency("isk", 2, step=100, payout_step=100),
    "ugx": Currency("ugx", 2, step=100, payout_step=100),
    # Two-decimal charges, whole-unit payouts.
    "huf": Currency("huf", 2, payout_step=100),
    "twd": Currency("twd", 2, payout_step=100),
}


def _build() -> dict[str, Currency]:
    table = {code: Currency(code, 2) for code in _TWO_DECIMAL}
    table.update({code: Currency(code, 0) for code in ZERO_DECIMAL})
    table.update({code: Currency(code, 3, step=10) for code in THREE_DECIMAL})
    table.update(_SPECIAL)
    return table


CURRENCIES: dict[str, Currency] = _build()
SUPPORTED: frozenset[str] = frozenset(CURRENCIES)


def is_supported(code: str) -> bool:
    """Whether `code` is a lower-case ISO code Stripe supports (upper case is not accepted)."""
    return code in CURRENCIES


def currency(code: str) -> Currency:
    """The Stripe rules for `code`; `InvalidInput` for anything Stripe does not support."""
    found = CURRENCIES.get(code)
    if found is not None:
        return found
    if isinstance(code, str) and code.lower() in CURRENCIES:
        raise InvalidInput(f"currency {code!r} must be lower case ({code.lower()!r})")
    raise InvalidInput(f"currency {code!r} is not a currency Stripe supports")
