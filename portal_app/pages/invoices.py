"""Customer pages: invoices (list, detail, pay, PDFs, receipts) and digital products."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.page_parts import confirm_dialog
from portal_app.components.pager import pager
from portal_app.components.portal_form import field_label, form_stack
from portal_app.components.portal_layout import loaded_page
from portal_app.state.invoices import InvoicesState
from portal_app.state.nav import NavState

STATUS_COLORS = {"paid": "green", "open": "amber", "uncollectible": "red"}


def _invoice_row(row: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(row.number, href=routes.INVOICE.replace("[id]", f"{row.id}"))),
        rx.table.cell(row.date),
        rx.table.cell(row.total),
        rx.table.cell(ui.status_badge(row.status, STATUS_COLORS, default="gray")),
        rx.table.cell(
            rx.cond(
                NavState.enabled["invoices.download_pdf"],
                rx.button(
                    rx.icon("file-down", size=14),
                    "PDF",
                    size="1",
                    variant="soft",
                    on_click=InvoicesState.download_pdf(row.id),
                    aria_label="Download PDF",
                ),
            ),
        ),
        data_testid="invoice-row",
    )


def invoices_page() -> rx.Component:
    return loaded_page(
        "Invoices",
        "invoices.view",
        InvoicesState.loaded,
        rx.cond(
            InvoicesState.total > 0,
            rx.vstack(
                ui.data_table(
                    ["Invoice", "Date", "Total", "Status", ""],
                    rows=InvoicesState.rows,
                    render=_invoice_row,
                    size=None,
                ),
                pager(InvoicesState),
                spacing="3",
                width="100%",
            ),
            rx.callout("No invoices yet.", icon="info"),
        ),
    )


def _address_block(title: str, lines, testid: str) -> rx.Component:
    """The bill-to (or ship-to) the invoice was issued with: later profile edits don't show."""
    return rx.vstack(
        rx.text(title, size="1", weight="bold", color_scheme="gray"),
        rx.foreach(lines.to(list[str]), lambda line: rx.text(line, size="2")),
        spacing="0",
        data_testid=testid,
    )


def _amount_row(label: str, amount: rx.Var, *, bold: bool = False) -> rx.Component:
    """A label and its amount at either end of the line (Total, Paid, Amount due)."""
    texts = (
        (rx.text(label, weight="bold"), rx.text(amount, weight="bold"))
        if bold
        else (rx.text(label), rx.text(amount))
    )
    return rx.flex(*texts, justify="between", width="100%")


def _sandbox_bank_dialog() -> rx.Component:
    """The sandbox's stand-in for the bank's 3-D Secure page (Stripe shows its own)."""
    return confirm_dialog(
        "Confirm with your bank",
        f"Test mode: the bank asks you to confirm the payment of {InvoicesState.detail.due}.",
        keep="Refuse",
        on_keep=InvoicesState.sandbox_bank(False),
        action="Confirm",
        on_confirm=InvoicesState.sandbox_bank(True),
        color="green",
        testid="bank-confirm",
        open=InvoicesState.sandbox_bank_open,
    )


def invoice_detail_page() -> rx.Component:
    detail = InvoicesState.detail
    return loaded_page(
        "Invoice",
        "invoices.view",
        detail.id != "",
        ui.card_stack(
            rx.flex(
                rx.heading(detail.number, size="5", as_="h2", data_testid="invoice-number"),
                ui.status_badge(detail.status, STATUS_COLORS, default="gray"),
                justify="between",
                width="100%",
                wrap="wrap",
                spacing="2",
            ),
            rx.text("Issued ", detail.date, size="2", color_scheme="gray"),
            rx.cond(detail.period != "", rx.text("Period ", detail.period, size="2")),
            rx.flex(
                _address_block("Billed to", detail.bill_to, "bill-to"),
                rx.cond(
                    detail.ship_to.to(list[str]).length() > 0,
                    _address_block("Ship to", detail.ship_to, "ship-to"),
                ),
                spacing="5",
                wrap="wrap",
            ),
            rx.separator(size="4"),
            rx.foreach(
                detail.lines,
                lambda line: rx.flex(
                    rx.text(line.description),
                    rx.text(line.amount),
                    justify="between",
                    width="100%",
                    spacing="3",
                ),
            ),
            rx.separator(size="4"),
            _amount_row("Total", detail.total, bold=True),
            _amount_row("Paid", detail.paid),
            _amount_row("Amount due", detail.due),
            rx.cond(
                (detail.status == "open") & NavState.enabled["invoices.pay"],
                form_stack(
                    field_label("Pay with", "card"),
                    rx.el.select(
                        rx.foreach(
                            detail.cards,
                            lambda c: rx.el.option(
                                c.label, value=c.id, selected=c.default == "yes"
                            ),
                        ),
                        id="card",
                        name="card",
                        style={"padding": "8px", "border_radius": "6px", "width": "100%"},
                    ),
                    rx.link("Add a card", href=routes.PAYMENT_METHOD_NEW, size="2"),
                    rx.button(
                        "Pay ",
                        detail.due,
                        type="submit",
                        size="3",
                        width="100%",
                        data_testid="pay-now",
                    ),
                    on_submit=InvoicesState.pay,
                    spacing="2",
                    width="100%",
                ),
            ),
            rx.cond(
                detail.needs_confirmation & NavState.enabled["invoices.pay"],
                rx.callout.root(
                    rx.callout.icon(rx.icon("shield-check")),
                    rx.callout.text(
                        "Your bank asks you to confirm this payment before it is made."
                    ),
                    rx.button(
                        "Confirm payment",
                        on_click=InvoicesState.confirm_payment,
                        loading=InvoicesState.confirming,
                        data_testid="confirm-payment",
                    ),
                    color_scheme="amber",
                    width="100%",
                    data_testid="needs-confirmation",
                ),
            ),
            rx.cond(
                detail.disputed,
                rx.callout.root(
                    rx.callout.text("Your bank has disputed this payment."),
                    color_scheme="red",
                    width="100%",
                ),
            ),
            rx.foreach(
                detail.refunds,
                lambda line: rx.text("Refunded: ", line, size="2", data_testid="refund-line"),
            ),
            ui.error_callout(InvoicesState.pay_error, testid="pay-error"),
            _sandbox_bank_dialog(),
            rx.flex(
                rx.cond(
                    NavState.enabled["invoices.download_pdf"],
                    rx.button(
                        rx.icon("file-down"),
                        "Download PDF",
                        variant="soft",
                        on_click=InvoicesState.download_pdf(detail.id),
                        data_testid="download-pdf",
                    ),
                ),
                rx.link(rx.button("All invoices", variant="ghost"), href=routes.INVOICES),
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                NavState.enabled["invoices.receipts"],
                rx.foreach(
                    detail.receipts,
                    lambda r: rx.flex(
                        rx.text(r.label, size="2"),
                        rx.button(
                            "Receipt PDF",
                            size="1",
                            variant="soft",
                            on_click=InvoicesState.download_receipt(r.id),
                        ),
                        justify="between",
                        width="100%",
                        wrap="wrap",
                        spacing="2",
                    ),
                ),
            ),
            max_width="40rem",
        ),
    )
