"""Which interventions each invoice state allows (a pure function; no widgets)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_desk.domain.corrections import InvoiceStatus
from billing_desk.ui.dialogs.actions import (
    Action,
    InvoiceContext,
    disabled_reason,
    enabled_actions,
)

A = Action


@pytest.mark.parametrize(
    ("ctx", "expected"),
    [
        (InvoiceContext(InvoiceStatus.NONE), {A.CREDIT, A.ONE_OFF, A.HOLD}),
        (
            InvoiceContext(InvoiceStatus.DRAFT, line_editable=True),
            {A.ADJUST, A.VOID_LINE, A.CREDIT, A.ONE_OFF, A.HOLD},
        ),
        (
            InvoiceContext(InvoiceStatus.DRAFT, held=True, undoable=True),
            {A.CREDIT, A.ONE_OFF, A.RELEASE, A.UNDO},
        ),
        (InvoiceContext(InvoiceStatus.OPEN, line_editable=True), {A.CREDIT, A.VOID_INVOICE}),
        (InvoiceContext(InvoiceStatus.PAID, line_editable=True, undoable=True), {A.CREDIT}),
        (InvoiceContext(InvoiceStatus.UNCOLLECTIBLE), {A.VOID_INVOICE}),
        (InvoiceContext(InvoiceStatus.VOID, line_editable=True, held=True), set()),
    ],
)
def test_enabled_actions_follow_the_contract_table(
    ctx: InvoiceContext, expected: set[Action]
) -> None:
    assert enabled_actions(ctx) == expected


contexts = st.builds(
    InvoiceContext,
    state=st.sampled_from(InvoiceStatus),
    line_editable=st.booleans(),
    held=st.booleans(),
    undoable=st.booleans(),
)


@given(contexts, st.sampled_from(Action))
def test_every_disabled_action_says_why(ctx: InvoiceContext, action: Action) -> None:
    reason = disabled_reason(action, ctx)
    assert (reason is None) == (action in enabled_actions(ctx))
    assert reason is None or reason.endswith(".")


@given(contexts)
def test_hold_and_release_are_never_both_enabled(ctx: InvoiceContext) -> None:
    assert not {A.HOLD, A.RELEASE} <= enabled_actions(ctx)


def test_each_action_has_a_label_and_a_shortcut() -> None:
    shortcuts = {a.shortcut for a in Action if a is not A.RELEASE}
    assert len(shortcuts) == len(Action) - 1
    assert all(a.label.endswith("…") for a in Action)


def test_each_action_proposes_its_correction_kind() -> None:
    assert {a.kind.value for a in Action} == {a.value for a in Action}
