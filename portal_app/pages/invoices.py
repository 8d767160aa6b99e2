"""Customer pages: invoices (list, detail, pay, PDFs, receipts) and digital products."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.pager import pager
from portal_app.components.portal_layout import portal_layout
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
    return portal_layout(
        "Invoices",
        "invoices.view",
        rx.cond(
            InvoicesState.loaded,
            rx.cond(
                InvoicesState.total > 0,
                rx.vstack(
                    rx.box(
                        rx.table.root(
                            rx.table.header(
                                rx.table.row(
                                    rx.table.column_header_cell("Invoice"),
                                    rx.table.column_header_cell("Date"),
                                    rx.table.column_header_cell("Total"),
                                    rx.table.column_header_cell("Status"),
                                    rx.table.column_header_cell(""),
                                )
                            ),
                            rx.table.body(rx.foreach(InvoicesState.rows, _invoice_row)),
                            width="100%",
                        ),
                        overflow_x="auto",
                        width="100%",
                    ),
                    pager(InvoicesState),
                    spacing="3",
                    width="100%",
                ),
                rx.callout("No invoices yet.", icon="info"),
            ),
            ui.loading(),
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


def invoice_detail_page() -> rx.Component:
    detail = InvoicesState.detail
    return portal_layout(
        "Invoice",
        "invoices.view",
        rx.cond(
            detail.id != "",
            rx.card(
                rx.vstack(
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
                    rx.flex(
                        rx.text("Total", weight="bold"),
                        rx.text(detail.total, weight="bold"),
                        justify="between",
                        width="100%",
                    ),
                    rx.flex(rx.text("Paid"), rx.text(detail.paid), justify="between", width="100%"),
                    rx.flex(
                        rx.text("Amount due"),
                        rx.text(detail.due),
                        justify="between",
                        width="100%",
                    ),
                    rx.cond(
                        (detail.status == "open") & NavState.enabled["invoices.pay"],
                        rx.form(
                            rx.vstack(
                                rx.text("Pay with", as_="label", html_for="card", weight="medium"),
                                rx.el.select(
                                    rx.foreach(
                                        detail.cards,
                                        lambda c: rx.el.option(
                                            c.label,
                                            value=c.id,
                                            selected=c.default == "yes",
                                        ),
                                    ),
                                    id="card",
                                    name="card",
                                    style={
                                        "padding": "8px",
                                        "border_radius": "6px",
                                        "width": "100%",
                                    },
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
                                spacing="2",
                                width="100%",
                            ),
                            on_submit=InvoicesState.pay,
                            width="100%",
                        ),
                    ),
                    ui.error_callout(InvoicesState.pay_error, testid="pay-error"),
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
                    spacing="3",
                    width="100%",
                ),
                width="100%",
                max_width="40rem",
            ),
            ui.loading(),
        ),
    )
