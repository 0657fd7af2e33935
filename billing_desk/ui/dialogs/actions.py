"""Which interventions apply to an invoice in a given state, with their labels and shortcuts.

A pure function over plain values so the main window, the context menus and the tests agree.
What each kind does before and after finalization is CONTRACT.md's table: before it (no invoice
yet, or a draft) lines are edited; after it (open, paid) only credits, and voiding an open invoice.

Keyboard shortcuts (the main window installs them on its actions):
  Adjust…              Ctrl+Shift+A     Void line…           Ctrl+Shift+D
  Credit…              Ctrl+Shift+C     One-off charge…      Ctrl+Shift+O
  Void invoice…        Ctrl+Shift+I     Hold / Release       Ctrl+Shift+H
  Undo correction…     Ctrl+Shift+U
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from billing_desk.domain.corrections import InvoiceStatus, Kind


class Action(enum.StrEnum):
    """An intervention; the value is the correction kind it proposes (`undo` reverts one)."""

    ADJUST = "adjust"
    VOID_LINE = "void"
    CREDIT = "credit"
    ONE_OFF = "one-off"
    VOID_INVOICE = "void-invoice"
    HOLD = "hold"
    RELEASE = "release"
    UNDO = "undo"

    @property
    def kind(self) -> Kind:
        return Kind(self.value)

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def shortcut(self) -> str:
        return _SHORTCUTS[self]


_LABELS = {
    Action.ADJUST: "Adjust…",
    Action.VOID_LINE: "Void line…",
    Action.CREDIT: "Credit…",
    Action.ONE_OFF: "One-off charge…",
    Action.VOID_INVOICE: "Void invoice…",
    Action.HOLD: "Hold finalization…",
    Action.RELEASE: "Release finalization…",
    Action.UNDO: "Undo correction…",
}

# Hold and Release share one key: only one of them is ever enabled.
_SHORTCUTS = {
    Action.ADJUST: "Ctrl+Shift+A",
    Action.VOID_LINE: "Ctrl+Shift+D",
    Action.CREDIT: "Ctrl+Shift+C",
    Action.ONE_OFF: "Ctrl+Shift+O",
    Action.VOID_INVOICE: "Ctrl+Shift+I",
    Action.HOLD: "Ctrl+Shift+H",
    Action.RELEASE: "Ctrl+Shift+H",
    Action.UNDO: "Ctrl+Shift+U",
}


@dataclass(frozen=True)
class InvoiceContext:
    """What the enabled actions depend on, as the customer view knows it."""

    state: InvoiceStatus
    # A usage line is selected and not voided: the only kind of line adjust and void change.
    line_editable: bool = False
    held: bool = False
    undoable: bool = False


def enabled_actions(ctx: InvoiceContext) -> frozenset[Action]:
    """The interventions that apply to `ctx`; the others are shown disabled."""
    if not ctx.state.finalized:
        enabled = {Action.CREDIT, Action.ONE_OFF}
        if ctx.line_editable:
            enabled |= {Action.ADJUST, Action.VOID_LINE}
        enabled.add(Action.RELEASE if ctx.held else Action.HOLD)
        if ctx.undoable:
            enabled.add(Action.UNDO)
        return frozenset(enabled)
    if ctx.state is InvoiceStatus.OPEN:
        return frozenset({Action.CREDIT, Action.VOID_INVOICE})
    if ctx.state is InvoiceStatus.PAID:
        return frozenset({Action.CREDIT})
    if ctx.state is InvoiceStatus.UNCOLLECTIBLE:
        # Stripe voids uncollectible invoices too; it issues credit notes only on open or paid.
        return frozenset({Action.VOID_INVOICE})
    return frozenset()


def disabled_reason(action: Action, ctx: InvoiceContext) -> str | None:
    """Why `action` is disabled for `ctx`, in plain words (a tooltip); None when enabled."""
    if action in enabled_actions(ctx):
        return None
    finalized = ctx.state.finalized
    if action in (Action.ADJUST, Action.VOID_LINE):
        if finalized:
            return f"The invoice is {ctx.state.value}: its lines are final, use a credit instead."
        return "Select a usage line that is not void (credits and one-offs are undone instead)."
    if action is Action.ONE_OFF:
        return f"The invoice is {ctx.state.value}: no new charges can be added to it."
    if action is Action.CREDIT:
        return f"A {ctx.state.value} invoice cannot be credited."
    if action is Action.VOID_INVOICE:
        if not finalized:
            return "A draft is not voided: edit or void its lines instead."
        return f"A {ctx.state.value} invoice cannot be voided."
    if action in (Action.HOLD, Action.RELEASE):
        if finalized:
            return f"The invoice is already {ctx.state.value}."
        return "Finalization is already held." if action is Action.HOLD else "Nothing is held."
    if finalized:
        return f"The invoice is {ctx.state.value}: corrections can no longer be undone."
    return "No applied correction on this invoice can be undone."
