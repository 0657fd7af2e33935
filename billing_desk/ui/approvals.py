"""The approvals tab: corrections waiting for a lead, soonest finalization first, and the drafts
due to finalize with what blocks each.

Approving and rejecting go through the corrections service, which enforces four-eyes (and on
PostgreSQL the database does too); this tab only says beforehand what the service would refuse:
the buttons of a correction the agent requested themselves are disabled, with the reason
beside them. The queue is read off the UI thread, again whenever a correction changes on this
desk, and every few seconds while shown (other desks share the store).

Keyboard: Alt+A approve · Alt+R reject · Alt+B / Return / double-click open the customer side
by side · Ctrl+R read the queues again (F5 stays the window's "refresh from Stripe").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QHideEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy import Engine

from billing_desk.domain.corrections import Status
from billing_desk.domain.policy import DECIDERS, Role
from billing_desk.services.corrections import Decision, apply_approved, approve, reject
from billing_desk.services.finalization_gate import (
    ApprovalRow,
    DraftRow,
    approvals_queue,
    drafts_queue,
)
from billing_desk.store import staff_repo
from billing_desk.store.uow import UnitOfWork
from billing_desk.ui import format as fmt
from billing_desk.ui.approvals_model import ApprovalsModel, DraftsModel, deadline_text
from billing_desk.ui.bus import CORRECTIONS, LINES, SYNC, Change, ChangeBus
from billing_desk.ui.dialogs.lifetime import while_alive
from billing_desk.ui.dialogs.table_view import read_only_table
from billing_desk.ui.dialogs.wording import kind_label, reason_label
from billing_desk.ui.models import OBJECT_ROLE
from billing_desk.ui.operations import OperationRunner
from billing_desk.ui.refresh_while_shown import RefreshWhileShown
from billing_desk.ui.theme import accent

REFRESH_MS = 10_000
QUEUE_LIMIT = 200


def badge_text(count: int) -> str:
    """The tab's title with its count badge: "Approvals (3)"."""
    if count <= 0:
        return "Approvals"
    return f"Approvals ({count}+)" if count >= QUEUE_LIMIT else f"Approvals ({count})"


def decision_blocker(actor: str, role: Role | None, row: ApprovalRow) -> str | None:
    """Why `actor` cannot decide on `row`, as the service would say it; None when they can."""
    if row.requested_by == actor:
        return (
            "You requested this correction, so another lead must approve or reject it (four-eyes)."
        )
    if role not in DECIDERS:
        who = "not on the staff" if role is None else f"an {role.value}"
        return f"Only a lead or an admin approves or rejects corrections; you are {who}."
    return None


@dataclass(frozen=True)
class QueueSnapshot:
    role: Role | None
    approvals: list[ApprovalRow]
    drafts: list[DraftRow]
    read_at: datetime


def read_queues(engine: Engine, actor: str) -> QueueSnapshot:
    """Both queues and the actor's role, in one read (run off the UI thread)."""
    with UnitOfWork(engine) as uow:
        # The register, read only: the services decide; this only greys out buttons.
        role = staff_repo.role_of(uow.session, actor)
        approvals = approvals_queue(uow, limit=QUEUE_LIMIT)
        drafts = drafts_queue(uow, limit=QUEUE_LIMIT)
    return QueueSnapshot(role, approvals, drafts, datetime.now(UTC))


def decide(
    engine: Engine, actor: str, correction_id: int, *, approved: bool, note: str | None
) -> Decision:
    """Approve (and apply at once, so every desk sees the effect) or reject."""
    with UnitOfWork(engine, write=True) as uow:
        if not approved:
            return reject(uow, actor, correction_id, note or "")
        decision = approve(uow, actor, correction_id, note)
    with UnitOfWork(engine, write=True) as uow:
        applied = apply_approved(uow, actor, correction_id=correction_id)
    return applied[0] if applied else decision


def describe_outcome(decision: Decision) -> str:
    if decision.status is Status.APPLIED:
        return f"Correction {decision.id} approved and applied."
    if decision.status is Status.APPROVED:
        return f"Correction {decision.id} approved; it is applied with the next sync."
    if decision.status is Status.LAPSED:
        return f"Correction {decision.id} approved, but it lapsed at once: {decision.reason}."
    if decision.status is Status.REJECTED:
        return f"Correction {decision.id} rejected."
    return f"Correction {decision.id} is {decision.status.value}: {decision.reason or ''}".strip()


class ApprovalsView(QWidget):
    """`ApprovalsView(engine, actor, runner, bus)`; connect `customer_requested` to open the
    customer's side-by-side view and `pending_count_changed` to the tab badge (`badge_text`)."""

    customer_requested = Signal(str, str)  # customer id, period
    pending_count_changed = Signal(int)
    # A decision was recorded (Decision); the message for the status bar is `last_outcome`.
    decision_made = Signal(object)
    # The latest read asked for is on screen (tests wait on it).
    queues_loaded = Signal()

    def __init__(
        self,
        engine: Engine,
        actor: str,
        runner: OperationRunner,
        bus: ChangeBus,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._engine = engine
        self._actor = actor
        self._runner = runner
        self._role: Role | None = None
        self._count: int | None = None
        self._loading = False
        self._reload = False
        self._deciding = False
        self.last_outcome = ""
        self.setAccessibleName("Approvals")

        self._approvals = ApprovalsModel(self)
        self._table = read_only_table(self._approvals, "Corrections waiting for a lead")
        self._table.sortByColumn(ApprovalsModel.COL_DEADLINE, Qt.SortOrder.AscendingOrder)
        self._empty = QLabel("Nothing is waiting for a lead.")
        self._empty.setStyleSheet(f"color: {accent('muted').name()}")
        self._heading = QLabel("<b>Waiting for a lead</b>")
        self._refresh_button = QPushButton("Refresh")
        self._refresh_button.setAccessibleName("Refresh the queues")
        self._refresh_button.setToolTip("Read the queues again (Ctrl+R)")
        head = QHBoxLayout()
        head.addWidget(self._heading)
        head.addStretch(1)
        head.addWidget(self._refresh_button)

        queue = QWidget()
        queue_layout = QVBoxLayout(queue)
        queue_layout.setContentsMargins(0, 0, 0, 0)
        queue_layout.addLayout(head)
        queue_layout.addWidget(self._table, 1)
        queue_layout.addWidget(self._empty)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(queue)
        top.addWidget(self._build_detail())
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([700, 460])

        self._drafts = DraftsModel(self)
        self._drafts_table = read_only_table(self._drafts, "Drafts due to finalize")
        self._drafts_table.sortByColumn(DraftsModel.COL_DUE, Qt.SortOrder.AscendingOrder)
        drafts = QWidget()
        drafts_layout = QVBoxLayout(drafts)
        drafts_layout.setContentsMargins(0, 0, 0, 0)
        drafts_layout.addWidget(QLabel("<b>Drafts due to finalize</b> — and what blocks each"))
        drafts_layout.addWidget(self._drafts_table)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(drafts)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self._message = QLabel()
        self._message.setWordWrap(True)
        self._message.setAccessibleName("Approvals message")
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addWidget(self._message)

        self._table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self._table.doubleClicked.connect(self._on_table_double_clicked)
        self._drafts_table.doubleClicked.connect(self._on_drafts_double_clicked)
        self._refresh_button.clicked.connect(self.refresh)
        self._approve.clicked.connect(self._on_approve_clicked)
        self._reject.clicked.connect(self._on_reject_clicked)
        self._open.clicked.connect(self._on_open_clicked)
        bus.changed.connect(self._on_bus_changed)
        for keys, slot, target in (
            ("Ctrl+R", self.refresh, self),
            (Qt.Key.Key_Return, self._on_open_clicked, self._table),
            (Qt.Key.Key_Return, self._on_drafts_double_clicked, self._drafts_table),
        ):
            shortcut = QShortcut(QKeySequence(keys), target)
            shortcut.setContext(
                Qt.ShortcutContext.WidgetWithChildrenShortcut
                if target is self
                else Qt.ShortcutContext.WidgetShortcut
            )
            shortcut.activated.connect(slot)
        self._refresher = RefreshWhileShown(self, self.refresh, every_ms=REFRESH_MS)
        self._show_selected(None)

    def _build_detail(self) -> QWidget:
        box = QGroupBox("Correction")
        box.setAccessibleName("Selected correction")
        self._detail_title = QLabel()
        self._detail_title.setWordWrap(True)
        self._detail_fields: dict[str, QLabel] = {}
        form = QFormLayout()
        for name in ("Customer", "Impact", "Requested", "Reason", "Waiting because", "Finalizes"):
            label = QLabel()
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setAccessibleName(name)
            self._detail_fields[name] = label
            form.addRow(f"{name}:", label)
        self._open = QPushButton("Open side &by side")
        self._open.setAccessibleName("Open the customer side by side")
        self._open.setToolTip("The customer's local lines beside the Stripe invoice (Alt+B)")
        self._note = QLineEdit()
        self._note.setAccessibleName("Decision note")
        self._note.setPlaceholderText("Note for the requester (required to reject)")
        self._approve = QPushButton("&Approve")
        self._approve.setAccessibleName("Approve the correction")
        self._reject = QPushButton("&Reject…")
        self._reject.setAccessibleName("Reject the correction")
        self._why_not = QLabel()
        self._why_not.setWordWrap(True)
        self._why_not.setAccessibleName("Why you cannot decide")
        self._why_not.setStyleSheet(f"color: {accent('differs').name()}")
        buttons = QHBoxLayout()
        buttons.addWidget(self._open)
        buttons.addStretch(1)
        buttons.addWidget(self._reject)
        buttons.addWidget(self._approve)
        layout = QVBoxLayout(box)
        layout.addWidget(self._detail_title)
        layout.addLayout(form)
        layout.addWidget(self._note)
        layout.addWidget(self._why_not)
        layout.addLayout(buttons)
        layout.addStretch(1)
        return box

    # --- reading --------------------------------------------------------------------------

    @property
    def pending_count(self) -> int:
        return self._count or 0

    def refresh(self) -> None:
        if self._loading:
            self._reload = True  # read again once this read is in, so no change is missed
            return
        self._loading = True
        engine, actor = self._engine, self._actor
        self._runner.run(
            lambda: read_queues(engine, actor),
            on_success=while_alive(self, self._on_queues_read),
            on_failure=while_alive(self, self._on_queues_failed),
        )

    def showEvent(self, event: QShowEvent) -> None:
        self._refresher.shown()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._refresher.hidden()
        super().hideEvent(event)

    def _on_queues_read(self, snapshot: QueueSnapshot) -> None:
        self._loading = False
        selected = self._selected()
        self._role = snapshot.role
        self._approvals.set_rows(snapshot.approvals, snapshot.read_at)
        self._drafts.set_rows(snapshot.drafts, snapshot.read_at)
        self._empty.setVisible(not snapshot.approvals)
        count = len(snapshot.approvals)
        self._heading.setText(
            f"<b>Waiting for a lead</b> ({count})" if count else "<b>Waiting for a lead</b>"
        )
        if selected is not None:
            self._select(selected.id)
        self._show_selected(self._selected())
        if count != self._count:
            self._count = count
            self.pending_count_changed.emit(count)
        if self._reload:  # asked again while reading: this read may predate the change
            self._reload = False
            self.refresh()
            return
        self.queues_loaded.emit()

    def _on_queues_failed(self, message: str) -> None:
        self._loading = False
        self._message.setText(message)
        self.queues_loaded.emit()

    def _on_bus_changed(self, change: Change) -> None:
        if change.touches(CORRECTIONS) or change.touches(SYNC):
            self.refresh()

    # --- the selected correction ----------------------------------------------------------

    def _selected(self) -> ApprovalRow | None:
        rows = self._table.selectionModel().selectedRows()
        if not rows:
            return None
        row = rows[0].data(OBJECT_ROLE)
        return row if isinstance(row, ApprovalRow) else None

    def select_correction(self, correction_id: int) -> bool:
        """Select a correction in the queue (e.g. from a notification); False if not there."""
        return self._select(correction_id)

    def _select(self, correction_id: int) -> bool:
        for row in range(self._approvals.rowCount()):
            item = self._approvals.index(row, 0).data(OBJECT_ROLE)
            if isinstance(item, ApprovalRow) and item.id == correction_id:
                self._table.selectRow(row)
                return True
        return False

    def _on_table_selection_changed(self, _selected: QItemSelection, _old: QItemSelection) -> None:
        self._note.clear()
        self._message.clear()
        self._show_selected(self._selected())

    def _show_selected(self, row: ApprovalRow | None) -> None:
        fields = self._detail_fields
        if row is None:
            self._detail_title.setText("Select a correction to see it and decide on it.")
            for label in fields.values():
                label.clear()
            for button in (self._approve, self._reject, self._open):
                button.setEnabled(False)
            self._note.setEnabled(False)
            self._why_not.hide()
            return
        code = row.currency
        self._detail_title.setText(f"<b>Correction {row.id} — {kind_label(row.kind)}</b>")
        fields["Customer"].setText(f"{row.customer_id} · {row.period}")
        fields["Impact"].setText(
            f"{fmt.signed(row.impact, code)} {code.upper()} on the invoice total"
        )
        fields["Requested"].setText(
            f"by {row.requested_by}, {row.requested_at.astimezone():%d %b %H:%M}"
        )
        reason = reason_label(row.reason)
        fields["Reason"].setText(f"{reason} — {row.note}" if row.note else reason)
        status = "lapsed: " if row.status == "lapsed" else ""
        fields["Waiting because"].setText(f"{status}{row.why or 'it needs a lead'}")
        finalizes = deadline_text(row.due_at, datetime.now(UTC))
        if row.nearing_deadline:
            finalizes += " — decide before then"
        fields["Finalizes"].setText(finalizes)
        blocker = decision_blocker(self._actor, self._role, row)
        can_decide = blocker is None and not self._deciding
        self._approve.setEnabled(can_decide)
        self._reject.setEnabled(can_decide)
        self._note.setEnabled(can_decide)
        self._open.setEnabled(True)
        self._why_not.setText(blocker or "")
        self._why_not.setVisible(blocker is not None)
        for button in (self._approve, self._reject):
            button.setToolTip(blocker or "")

    # --- deciding -------------------------------------------------------------------------

    def _on_approve_clicked(self) -> None:
        self._decide(approved=True)

    def _on_reject_clicked(self) -> None:
        if not self._note.text().strip():
            self._message.setText("Say why in the note before rejecting: the requester sees it.")
            self._message.setStyleSheet(f"color: {accent('danger').name()}")
            self._note.setFocus()
            return
        self._decide(approved=False)

    def _decide(self, *, approved: bool) -> None:
        row = self._selected()
        if row is None or self._deciding or decision_blocker(self._actor, self._role, row):
            return
        self._deciding = True
        self._show_selected(row)
        engine, actor, note = self._engine, self._actor, self._note.text().strip() or None
        self._message.setStyleSheet("")
        self._message.setText("Recording the decision…")
        self._runner.run(
            lambda: decide(engine, actor, row.id, approved=approved, note=note),
            on_success=while_alive(self, self._on_decision_done),
            on_failure=while_alive(self, self._on_decision_failed),
            change=Change.of(CORRECTIONS, LINES, SYNC, customers=[row.customer_id]),
        )

    def _on_decision_done(self, decision: Decision) -> None:
        self._deciding = False
        self.last_outcome = describe_outcome(decision)
        self._message.setStyleSheet("")
        self._message.setText(self.last_outcome)
        self._note.clear()
        self.decision_made.emit(decision)

    def _on_decision_failed(self, message: str) -> None:
        self._deciding = False
        self._message.setStyleSheet(f"color: {accent('danger').name()}")
        self._message.setText(message)
        self._show_selected(self._selected())
        self.refresh()

    # --- opening the customer -------------------------------------------------------------

    def _on_open_clicked(self) -> None:
        row = self._selected()
        if row is not None:
            self.customer_requested.emit(row.customer_id, row.period)

    def _on_table_double_clicked(self) -> None:
        self._on_open_clicked()

    def _on_drafts_double_clicked(self) -> None:
        rows = self._drafts_table.selectionModel().selectedRows()
        if rows:
            draft = rows[0].data(OBJECT_ROLE)
            if isinstance(draft, DraftRow):
                self.customer_requested.emit(draft.customer_id, draft.period)
