"""The customer page's header: who, the period, the Stripe invoice's state and deadline, how
fresh Stripe's data is, and links to Stripe's own pages (the Dashboard, the hosted invoice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QWidget,
)

from billing_desk.services.customer_view import CustomerView
from billing_desk.ui import format as fmt
from billing_desk.ui.icons import glyph_pixmap
from billing_desk.ui.messages import clock
from billing_desk.ui.theme import accent

# How old cached Stripe data may be before the view marks it stale.
STALE_AFTER = timedelta(minutes=15)

_INVOICE_LOOK = {
    "none": ("No invoice yet", "dot", "muted"),
    "draft": ("Draft", "pause", "pending"),
    "open": ("Open", "arrow_up", "differs"),
    "paid": ("Paid", "check", "ok"),
    "void": ("Void", "cross", "muted"),
    "uncollectible": ("Uncollectible", "cross", "danger"),
}


def _link(url: str | None, text: str) -> str:
    return f'<a href="{escape(url, quote=True)}">{escape(text)}</a>' if url else ""


class CustomerHeader(QWidget):
    period_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = QLabel()
        font = QFont(self.name.font())
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.name.setFont(font)
        self.name.setAccessibleName("Customer name")
        self.name.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.ids = QLabel()
        self.ids.setAccessibleName("Customer ids and email")
        self.ids.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.balance = QLabel()
        self.balance.setAccessibleName("Stripe balance")
        self.period = QComboBox()
        self.period.setAccessibleName("Billing period")
        self.period.setToolTip("The billing period shown (Ctrl+[ and Ctrl+] step through them)")
        self.period.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.period.activated.connect(self._on_period_activated)
        self.status_icon = QLabel()
        self.status = QLabel()
        self.status.setAccessibleName("Stripe invoice status")
        self.deadline = QLabel()
        self.deadline.setAccessibleName("Finalization")
        self.fetched = QLabel()
        self.fetched.setAccessibleName("Stripe data freshness")
        self.links = QLabel()
        self.links.setAccessibleName("Stripe links")
        self.links.setTextFormat(Qt.TextFormat.RichText)
        self.links.setOpenExternalLinks(False)
        self.links.linkActivated.connect(self._on_links_link_activated)

        status_row = QHBoxLayout()
        status_row.setSpacing(6)
        status_row.addWidget(self.status_icon)
        status_row.addWidget(self.status)
        status_row.addSpacing(12)
        status_row.addWidget(self.deadline)
        status_row.addStretch(1)
        period_row = QHBoxLayout()
        period_row.addWidget(QLabel("Period:"))
        period_row.addWidget(self.period)
        period_row.addStretch(1)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(24)
        grid.addWidget(self.name, 0, 0)
        grid.addLayout(period_row, 0, 1)
        grid.addWidget(self.ids, 1, 0)
        grid.addLayout(status_row, 1, 1)
        grid.addWidget(self.balance, 2, 0)
        grid.addWidget(self.fetched, 2, 1)
        grid.addWidget(self.links, 3, 0, 1, 2)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 2)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._view: CustomerView | None = None
        self._refreshing = False

    def show_loading(self, customer_id: str) -> None:
        self._view = None
        self.name.setText(customer_id)
        for label in (self.ids, self.balance, self.status, self.deadline, self.fetched):
            label.clear()
        self.status_icon.clear()
        self.links.clear()
        self.fetched.setText("Loading…")

    def show_view(self, view: CustomerView, periods: tuple[str, ...]) -> None:
        self._view = view
        self.name.setText(view.name or view.customer_id)
        ids = [view.customer_id, view.stripe_customer_id or "not in Stripe yet", view.email]
        self.ids.setText("  ·  ".join(escape(i) for i in ids if i))
        if view.deleted_in_stripe:
            self.balance.setText("Deleted in Stripe")
        elif view.balance is None:
            self.balance.setText("Balance: not fetched yet")
        else:
            credit = " (credit)" if view.balance < 0 else ""
            self.balance.setText(f"Balance: {fmt.money(view.balance, view.currency)}{credit}")
        self.period.blockSignals(True)
        self.period.clear()
        self.period.addItems(list(periods))
        self.period.setCurrentText(view.period)
        self.period.blockSignals(False)
        text, glyph, tone = _INVOICE_LOOK.get(view.invoice_status, _INVOICE_LOOK["none"])
        if view.invoice is not None:
            number = f" {view.invoice.number}" if view.invoice.number else ""
            total = fmt.money(view.invoice.total, view.currency)
            text = f"Stripe invoice{number}: {text} · total {total}"
            if view.invoice.status == "open":
                text += f" · {fmt.money(view.invoice.amount_remaining, view.currency)} due"
        else:
            text = f"Stripe invoice: {text}"
        self.status.setText(text)
        self.status_icon.setPixmap(glyph_pixmap(glyph, accent(tone)))
        self.links.setText(
            "  ·  ".join(
                link
                for link in (
                    _link(view.customer_dashboard_url, "Customer in Stripe Dashboard"),
                    _link(view.invoice_dashboard_url, "Invoice in Stripe Dashboard"),
                    _link(view.hosted_invoice_url, "Hosted invoice page"),
                )
                if link
            )
        )
        self.tick()

    def set_refreshing(self, refreshing: bool) -> None:
        self._refreshing = refreshing
        self.tick()

    def is_stale(self, now: datetime | None = None) -> bool:
        view = self._view
        return view is not None and view.is_stale(now or datetime.now(UTC), STALE_AFTER)

    def tick(self) -> None:
        """Redraw what depends on the clock: the countdown and the freshness of Stripe data."""
        view = self._view
        if view is None:
            return
        now = datetime.now(UTC)
        if view.finalizes_at is not None:
            when = fmt.countdown(view.finalizes_at, now)
            text = f"Finalizes {when} (at {clock(view.finalizes_at)})"
            if view.blocked_reason:
                text += f" — blocked: {view.blocked_reason}"
            self.deadline.setText(text)
            soon = view.finalizes_at - now < timedelta(hours=4)
            self.deadline.setStyleSheet(f"color: {accent('differs').name()};" if soon else "")
        else:
            self.deadline.clear()
        if view.fetched_at is None:
            fresh = "Stripe data: never fetched"
        else:
            fresh = f"Stripe data fetched {clock(view.fetched_at)}"
            if self.is_stale(now):
                fresh += " (stale)"
        if self._refreshing:
            fresh += " · refreshing…"
        self.fetched.setText(fresh)
        stale = view.fetched_at is None or self.is_stale(now)
        self.fetched.setStyleSheet(f"color: {accent('differs').name()};" if stale else "")

    def _on_period_activated(self, index: int) -> None:
        self.period_chosen.emit(self.period.itemText(index))

    def _on_links_link_activated(self, url: str) -> None:
        QDesktopServices.openUrl(QUrl(url))
