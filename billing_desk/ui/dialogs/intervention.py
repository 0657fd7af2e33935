"""One dialog for every intervention: fill in, see the preview, review, confirm (electrum style).

The form validates as the agent types (amounts in the currency's format, a reason, a note for
"other"). Each valid change asks the corrections service, off the UI thread, what the proposal
would do now: the invoice total before and after, and whether it applies at once or waits for a
lead (the corrections policy decides, not this dialog). "Review…" shows one last summary that
says which of the two will happen; confirming proposes it through the same service as
`billing-desk corrections propose`.

Keyboard: Return reviews, then confirms · Alt+B goes back to the form · Esc cancels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from billing_desk.domain.corrections import MAX_DESCRIPTION, MAX_NOTE, Proposal, Reason
from billing_desk.domain.errors import BillingDeskError, InvalidInput
from billing_desk.domain.money import parse_major
from billing_desk.domain.reconcile import LocalLine
from billing_desk.services.corrections import Decision, Preview, preview_correction, propose
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui import format as fmt
from billing_desk.ui.bus import CORRECTIONS, LINES, SYNC, Change
from billing_desk.ui.dialogs.actions import Action
from billing_desk.ui.dialogs.lifetime import while_alive
from billing_desk.ui.dialogs.wording import (
    REASON_LABELS,
    describe_decision,
    describe_proposal,
    impact_text,
    route_text,
)
from billing_desk.ui.icons import glyph_pixmap
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.theme import accent

PREVIEW_DELAY_MS = 250
ROUTE_ICON = 18
# The reason and the note do not change what a correction does, so the preview asks with a
# stand-in reason (and no note); the agent must still choose a real one before reviewing.
_PREVIEW_REASON = Reason.GOODWILL
_QUANTITY_RE = re.compile(r"[0-9]+(?:\.[0-9]{1,12})?")

_TITLES = {
    Action.ADJUST: "Adjust a line",
    Action.VOID_LINE: "Void a line",
    Action.CREDIT: "Credit the invoice",
    Action.ONE_OFF: "Add a one-off charge",
    Action.VOID_INVOICE: "Void the invoice",
    Action.HOLD: "Hold finalization",
    Action.RELEASE: "Release finalization",
    Action.UNDO: "Undo a correction",
}


@dataclass(frozen=True)
class InterventionTarget:
    """What the intervention is on, as the customer view shows it.

    `line` is the selected line (adjust, void line); `correction_id` the applied correction an
    undo reverts, with `correction_summary` saying in words what it did.
    """

    customer_id: str
    period: str
    currency: str
    customer_name: str = ""
    line: LocalLine | None = None
    correction_id: int | None = None
    correction_summary: str = ""


class Missing(InvalidInput):
    """A field not filled in yet: shown as a hint, not as an error."""


def parse_quantity(text: str) -> Decimal:
    """A quantity as people type it: a plain decimal >= 0, at most 12 decimal places."""
    text = text.strip()
    if not text:
        raise Missing("enter the new quantity")
    if not _QUANTITY_RE.fullmatch(text):
        raise InvalidInput(f"quantity {text!r} is not a number like 120 or 0.5")
    return Decimal(text)


class InterventionDialog(QDialog):
    """`InterventionDialog(action, target, engine=…, actor=…, runner=…)`; `open()` it.

    Emits `correction_submitted(Decision)` once the correction is recorded (applied or pending
    approval), then closes. Failures stay in the dialog, in plain words.
    """

    correction_submitted = Signal(object)  # Decision
    # A preview (or why there is none) is on screen; tests wait on it instead of sleeping.
    preview_ready = Signal()

    def __init__(
        self,
        action: Action,
        target: InterventionTarget,
        *,
        engine: Engine,
        actor: str,
        runner: OperationRunner,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._action = action
        self._target = target
        self._engine = engine
        self._actor = actor
        self._runner = runner
        self._preview: Preview | None = None
        self._preview_seq = 0
        self._submitting = False
        self._closed = False
        self._stand_in: Proposal | None = None
        self._final: Proposal | None = None
        # What happened, in words, once submitted (for the window's status bar).
        self.result_text = ""
        who = target.customer_name or target.customer_id
        self.setWindowTitle(f"{_TITLES[action]} — {who} · {target.period}")
        self.setAccessibleName(_TITLES[action])
        self.setModal(True)
        self.setMinimumWidth(520)

        self._stack = QStackedWidget()
        self._stack.addWidget(self._build_form_page())
        self._stack.addWidget(self._build_confirm_page())

        self._status = QLabel()
        self._status.setWordWrap(True)
        self._status.setAccessibleName("Dialog message")
        self._status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self._cancel = QPushButton("Cancel")
        self._cancel.setAccessibleName("Cancel")
        self._back = QPushButton("&Back")
        self._back.setAccessibleName("Back to the form")
        self._next = QPushButton("Review…")
        self._next.setAccessibleName("Review the correction")
        self._next.setDefault(True)
        self._confirm = QPushButton("Apply now")
        self._confirm.setAccessibleName("Confirm the correction")
        buttons = QHBoxLayout()
        buttons.addWidget(self._status, 1)
        buttons.addWidget(self._cancel)
        buttons.addWidget(self._back)
        buttons.addWidget(self._next)
        buttons.addWidget(self._confirm)

        layout = QVBoxLayout(self)
        layout.addWidget(self._stack)
        layout.addLayout(buttons)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self._on_timer_timeout)

        self._cancel.clicked.connect(self.reject)
        self._back.clicked.connect(self._on_back_clicked)
        self._next.clicked.connect(self._on_next_clicked)
        self._confirm.clicked.connect(self._on_confirm_clicked)
        self._show_page(0)
        self._on_form_edited()

    # --- the form -----------------------------------------------------------------------------

    def _build_form_page(self) -> QWidget:
        page = QWidget()
        heading = QLabel(f"<b>{_TITLES[self._action]}</b>")
        heading.setAccessibleName("Heading")
        self._context = QLabel(self._context_text())
        self._context.setWordWrap(True)
        self._context.setAccessibleName("What this changes")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)

        code = self._target.currency.upper()
        self._amount = QLineEdit()
        self._amount.setPlaceholderText(f"e.g. {fmt.amount(1250, self._target.currency)}")
        self._amount.setAccessibleName(f"Amount in {code}")
        self._amount.setToolTip(
            f"In {code}, with at most the currency's decimals; no thousands separators"
        )
        self._quantity = QLineEdit()
        self._quantity.setAccessibleName("New quantity")
        self._quantity.setPlaceholderText("e.g. 120")
        self._description = QLineEdit()
        self._description.setAccessibleName("Description of the charge")
        self._description.setMaxLength(MAX_DESCRIPTION)
        self._description.setPlaceholderText("What the customer sees on the invoice")
        self._set_amount = QRadioButton("New &amount")
        self._set_quantity = QRadioButton("New &quantity")
        self._mode = QButtonGroup(self)
        self._mode.addButton(self._set_amount)
        self._mode.addButton(self._set_quantity)
        self._set_amount.setChecked(True)

        if self._action is Action.ADJUST:
            modes = QHBoxLayout()
            modes.addWidget(self._set_amount)
            modes.addWidget(self._set_quantity)
            modes.addStretch(1)
            form.addRow("Change", modes)
            form.addRow(f"Amount ({code})", self._amount)
            form.addRow("Quantity", self._quantity)
            line = self._target.line
            if line is not None:
                self._quantity.setPlaceholderText(f"now {fmt.quantity(line.quantity)}")
                self._amount.setPlaceholderText(
                    f"now {fmt.amount(line.amount, self._target.currency)}"
                )
        elif self._action is Action.ONE_OFF:
            form.addRow("Description", self._description)
            form.addRow(f"Amount ({code})", self._amount)
        elif self._action is Action.CREDIT:
            form.addRow(f"Amount ({code})", self._amount)

        self._reason = QComboBox()
        self._reason.setAccessibleName("Reason")
        self._reason.addItem("Choose a reason…", None)
        for reason in Reason:
            self._reason.addItem(REASON_LABELS[reason], reason.value)
        self._note = QLineEdit()
        self._note.setAccessibleName("Note")
        self._note.setMaxLength(MAX_NOTE)
        self._note.setPlaceholderText("Optional; required when the reason is Other")
        form.addRow("&Reason", self._reason)
        form.addRow("&Note", self._note)

        self._problem = QLabel()
        self._problem.setWordWrap(True)
        self._problem.setAccessibleName("What is missing or wrong")

        preview_box = QFrame()
        preview_box.setFrameShape(QFrame.Shape.StyledPanel)
        self._impact = QLabel("Preview: fill in the form to see what the invoice total becomes.")
        self._impact.setWordWrap(True)
        self._impact.setAccessibleName("Preview of the invoice total")
        # Room for the longest preview, so the dialog never clips it when the text grows.
        line_height = self._impact.fontMetrics().lineSpacing()
        self._impact.setMinimumHeight(line_height * 3)
        self._impact.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self._route_icon = QLabel()
        self._route_icon.setFixedSize(ROUTE_ICON + 2, ROUTE_ICON + 2)
        self._route = QLabel()
        self._route.setWordWrap(True)
        self._route.setAccessibleName("Applies now or goes to a lead")
        self._route.setMinimumHeight(line_height * 2)
        route_row = QHBoxLayout()
        route_row.addWidget(self._route_icon, 0, Qt.AlignmentFlag.AlignTop)
        route_row.addWidget(self._route, 1)
        preview_layout = QVBoxLayout(preview_box)
        preview_layout.addWidget(self._impact)
        preview_layout.addLayout(route_row)

        layout = QVBoxLayout(page)
        layout.addWidget(heading)
        layout.addWidget(self._context)
        layout.addLayout(form)
        layout.addWidget(self._problem)
        layout.addWidget(preview_box)
        layout.addStretch(1)

        # What the correction does depends on these; the reason and the note only need checking.
        for edit in (self._amount, self._quantity, self._description):
            edit.textChanged.connect(self._on_form_edited)
        self._mode.buttonToggled.connect(self._on_form_edited)
        self._note.textChanged.connect(self._on_reason_edited)
        self._reason.currentIndexChanged.connect(self._on_reason_edited)
        return page

    def _build_confirm_page(self) -> QWidget:
        page = QWidget()
        self._summary = QLabel()
        self._summary.setWordWrap(True)
        self._summary.setAccessibleName("Summary of the correction")
        self._summary.setTextFormat(Qt.TextFormat.RichText)
        self._confirm_icon = QLabel()
        self._confirm_icon.setFixedSize(ROUTE_ICON + 2, ROUTE_ICON + 2)
        self._confirm_route = QLabel()
        self._confirm_route.setWordWrap(True)
        self._confirm_route.setAccessibleName("What happens when you confirm")
        route_row = QHBoxLayout()
        route_row.addWidget(self._confirm_icon, 0, Qt.AlignmentFlag.AlignTop)
        route_row.addWidget(self._confirm_route, 1)
        layout = QVBoxLayout(page)
        layout.addWidget(QLabel("<b>Review before confirming</b>"))
        layout.addWidget(self._summary)
        layout.addLayout(route_row)
        layout.addStretch(1)
        return page

    def _context_text(self) -> str:
        t = self._target
        who = t.customer_name or t.customer_id
        parts = [f"{who} ({t.customer_id}), period {t.period}"]
        line = t.line
        if line is not None and self._action in (Action.ADJUST, Action.VOID_LINE):
            parts.append(
                f"Line {line.id}: {line.description or line.item} — quantity "
                f"{fmt.quantity(line.quantity)}, amount {fmt.money(line.amount, t.currency)}"
            )
        if self._action is Action.UNDO and t.correction_id is not None:
            parts.append(
                f"Correction {t.correction_id}"
                + (f": {t.correction_summary}" if t.correction_summary else "")
            )
        return "<br>".join(_escape(p) for p in parts)

    # --- reading the form ---------------------------------------------------------------------

    def _reason_value(self) -> Reason | None:
        value = self._reason.currentData()
        return Reason(value) if isinstance(value, str) else None

    def _fields(self, reason: Reason, note: str | None) -> Proposal:
        """The proposal the fields describe; `InvalidInput` names the first field that is wrong."""
        t = self._target
        kind = self._action.kind
        amount: int | None = None
        quantity: Decimal | None = None
        description: str | None = None
        line_id: int | None = None
        reverts: int | None = None
        if self._action in (Action.ADJUST, Action.VOID_LINE):
            if t.line is None:
                raise InvalidInput("select a line in the customer view first")
            line_id = t.line.id
        if self._action is Action.ADJUST:
            if self._set_quantity.isChecked():
                quantity = parse_quantity(self._quantity.text())
            else:
                amount = self._parse_amount()
        elif self._action is Action.ONE_OFF:
            description = self._description.text().strip()
            if not description:
                raise Missing("enter a description: it is what the customer sees")
            amount = self._parse_amount()
        elif self._action is Action.CREDIT:
            amount = self._parse_amount()
        elif self._action is Action.UNDO:
            if t.correction_id is None:
                raise InvalidInput("select the applied correction to undo first")
            reverts = t.correction_id
        return Proposal(
            kind=kind,
            customer_id=t.customer_id,
            period=t.period,
            reason=reason,
            note=note,
            line_id=line_id,
            amount=amount,
            quantity=quantity,
            description=description,
            reverts=reverts,
        )

    def _parse_amount(self) -> int:
        text = self._amount.text()
        if not text.strip():
            raise Missing(f"enter the amount in {self._target.currency.upper()}")
        return parse_major(text, self._target.currency)

    def _note_value(self) -> str | None:
        return self._note.text().strip() or None

    def proposal(self) -> Proposal:
        """The complete proposal, or `InvalidInput` naming what is missing or wrong."""
        reason = self._reason_value()
        proposal = self._fields(reason or _PREVIEW_REASON, self._note_value())
        if reason is None:
            raise Missing("choose a reason")
        if reason is Reason.OTHER and proposal.note is None:
            raise Missing("reason Other needs a note saying what happened")
        return proposal

    # --- preview ------------------------------------------------------------------------------

    def _on_form_edited(self, *_args: object) -> None:
        if self._action is Action.ADJUST:
            by_quantity = self._set_quantity.isChecked()
            self._quantity.setEnabled(by_quantity)
            self._amount.setEnabled(not by_quantity)
        self._preview = None
        self._preview_seq += 1  # any preview under way is now stale
        try:
            stand_in = self._fields(_PREVIEW_REASON, None)
        except BillingDeskError as exc:
            self._show_problem(exc)
            self._impact.setText("Preview: fill in the form to see what the invoice total becomes.")
            self._set_route(None)
            self._next.setEnabled(False)
            self._timer.stop()
            return
        self._stand_in = stand_in
        self._impact.setText("Preview: working it out…")
        self._next.setEnabled(False)
        self._timer.start()
        self._show_form_problem()

    def _on_reason_edited(self, *_args: object) -> None:
        self._show_form_problem()
        self._next.setEnabled(self._preview is not None and not self._problem.text())

    def _show_form_problem(self) -> None:
        try:
            self.proposal()
        except BillingDeskError as exc:
            self._show_problem(exc)
        else:
            self._show_problem(None)

    def _show_problem(self, problem: BillingDeskError | None) -> None:
        """What is wrong (in the danger colour) or still missing (muted, a hint)."""
        self._problem.setText("" if problem is None else _sentence(str(problem)))
        self._problem.setVisible(problem is not None)
        colour = accent("muted" if isinstance(problem, Missing) else "danger")
        self._problem.setStyleSheet(f"color: {colour.name()}")

    def _on_timer_timeout(self) -> None:
        seq = self._preview_seq
        engine, actor, proposal = self._engine, self._actor, self._stand_in
        if proposal is None:
            return

        def work() -> Preview:
            # A write unit of work although nothing is kept (it rolls back): on a new SQLite
            # store the service makes the first person to act its admin, which writes.
            with UnitOfWork(engine, write=True) as uow:
                return preview_correction(uow, actor, proposal)

        self._runner.run(
            work,
            on_success=while_alive(self, lambda preview: self._on_preview_ready(seq, preview)),
            on_failure=while_alive(self, lambda message: self._on_preview_failed(seq, message)),
        )

    def _on_preview_ready(self, seq: int, preview: Preview) -> None:
        if self._closed or seq != self._preview_seq:
            return
        self._preview = preview
        self._impact.setText(impact_text(preview))
        self._set_route(preview)
        self._on_reason_edited()
        self.preview_ready.emit()

    def _on_preview_failed(self, seq: int, message: str) -> None:
        if self._closed or seq != self._preview_seq:
            return
        self._preview = None
        self._impact.setText(f"Preview: {message}")
        self._set_route(None)
        self._next.setEnabled(False)
        self.preview_ready.emit()

    def _set_route(self, preview: Preview | None) -> None:
        if preview is None:
            self._route.setText("")
            self._route_icon.clear()
            return
        waits = preview.approval_needed is not None
        self._route.setText(route_text(preview))
        self._route_icon.setPixmap(
            glyph_pixmap(
                "pause" if waits else "check", accent("pending" if waits else "ok"), ROUTE_ICON
            )
        )

    # --- review and confirm -------------------------------------------------------------------

    def _show_page(self, index: int) -> None:
        self._stack.setCurrentIndex(index)
        on_form = index == 0
        self._back.setVisible(not on_form)
        self._confirm.setVisible(not on_form)
        self._next.setVisible(on_form)
        self._next.setDefault(on_form)
        self._confirm.setDefault(not on_form)
        if not on_form:
            self._confirm.setFocus()

    def _on_next_clicked(self) -> None:
        preview = self._preview
        if preview is None or not self._next.isEnabled():
            return
        try:
            proposal = self.proposal()
        except BillingDeskError as exc:
            self._show_problem(exc)
            return
        self._final = proposal
        target = self._target
        self._summary.setText(
            describe_proposal(proposal, preview, target.customer_name, target.line)
        )
        waits = preview.approval_needed is not None
        self._confirm_route.setText(f"<b>{_escape(route_text(preview))}</b>")
        self._confirm_icon.setPixmap(
            glyph_pixmap(
                "pause" if waits else "check", accent("pending" if waits else "ok"), ROUTE_ICON
            )
        )
        self._confirm.setText("Send for approval" if waits else "Apply now")
        self._status.setText("")
        self._show_page(1)

    def _on_back_clicked(self) -> None:
        if self._stack.currentIndex() == 1 and not self._submitting:
            self._status.setText("")
            self._show_page(0)

    def _on_confirm_clicked(self) -> None:
        if self._submitting or self._stack.currentIndex() != 1:
            return
        self._submitting = True
        for button in (self._confirm, self._back, self._cancel):
            button.setEnabled(False)
        self._status.setText("Recording the correction…")
        engine, actor, proposal = self._engine, self._actor, self._final
        if proposal is None:
            return

        def work() -> Decision:
            with UnitOfWork(engine, write=True) as uow:
                return propose(uow, actor, proposal)

        self._runner.run(
            work,
            on_success=while_alive(self, self._on_submit_done),
            on_failure=while_alive(self, self._on_submit_failed),
            change=Change.of(CORRECTIONS, LINES, SYNC, customers=[self._target.customer_id]),
        )

    def _on_submit_done(self, decision: Decision) -> None:
        self._submitting = False
        self.result_text = describe_decision(decision)
        self.correction_submitted.emit(decision)
        if not self._closed:
            self.accept()

    def _on_submit_failed(self, message: str) -> None:
        self._submitting = False
        if self._closed:
            return
        for button in (self._confirm, self._back, self._cancel):
            button.setEnabled(True)
        self._status.setText(message)
        self._status.setStyleSheet(f"color: {accent('danger').name()}")

    # --- closing ------------------------------------------------------------------------------

    def reject(self) -> None:
        if self._submitting:  # the outcome is on its way: never lose it
            return
        self._closed = True
        self._timer.stop()
        super().reject()

    def accept(self) -> None:
        self._closed = True
        self._timer.stop()
        super().accept()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._submitting:
            event.ignore()
            return
        self._closed = True
        super().closeEvent(event)


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
