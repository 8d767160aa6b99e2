"""Merchant dashboard pages: Settings → Customer Portal, the audit log, the billing clock and
customers. Controls a member's role can't use are hidden or disabled (`staff_can`); that only
spares clicks: every handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell
from portal_app.components.merchant_header import INPUT_STYLE, merchant_header, staff_can
from portal_app.components.pager import pager
from portal_app.state.merchant_customers import PORTAL_LINK_FIELD
from portal_app.state.merchant_customers import MerchantCustomersState as Customers


def customers_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            merchant_header("Customers"),
            rx.form(
                rx.hstack(
                    rx.input(
                        name="q", placeholder="Search name or email", aria_label="Search customers"
                    ),
                    rx.button("Search", type="submit"),
                ),
                on_submit=Customers.search,
            ),
            rx.text(Customers.total, " customers", size="2"),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[rx.table.column_header_cell(h) for h in ("Name", "Email", "Since")]
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            Customers.rows,
                            lambda c: rx.table.row(
                                rx.table.cell(
                                    rx.link(
                                        rx.cond(c["name"] != "", c["name"], "(no name)"),
                                        href=f"/merchant/customers/{c['id']}",
                                    )
                                ),
                                rx.table.cell(c["email"]),
                                rx.table.cell(c["since"]),
                                data_testid="customer-row",
                            ),
                        )
                    ),
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
            pager(Customers),
            spacing="3",
            width="100%",
        ),
        subtitle="Customers",
    )


def _record_table(title: str, key: str, columns: list[tuple[str, str]]) -> rx.Component:
    rows = Customers.record[key].to(list[dict[str, str]])
    return rx.card(
        rx.vstack(
            rx.heading(title, size="3", as_="h2"),
            rx.cond(
                rows.length() > 0,
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *[rx.table.column_header_cell(label) for label, _ in columns]
                            )
                        ),
                        rx.table.body(
                            rx.foreach(
                                rows,
                                lambda r: rx.table.row(
                                    *[rx.table.cell(r[field]) for _, field in columns]
                                ),
                            )
                        ),
                        size="1",
                        width="100%",
                    ),
                    overflow_x="auto",
                    width="100%",
                ),
                rx.text("None.", size="2", color_scheme="gray"),
            ),
            spacing="2",
            width="100%",
        ),
        width="100%",
    )


def _portal_link_field() -> rx.Component:
    """Always mounted (hidden until a link is shown) so `reveal_portal_link` can write the link
    straight into it: the link is never a state var, and a reload shows nothing."""
    field = PORTAL_LINK_FIELD
    return rx.box(
        rx.vstack(
            rx.el.label("One-time portal link", html_for=field, style={"font_weight": "500"}),
            rx.hstack(
                rx.el.input(
                    id=field,
                    read_only=True,
                    data_testid="portal-link",
                    on_focus=rx.call_script(f"document.getElementById('{field}').select()"),
                    style={**INPUT_STYLE, "width": "100%", "min_width": "0"},
                ),
                rx.button(
                    "Copy",
                    variant="soft",
                    on_click=[
                        rx.call_script(
                            "navigator.clipboard.writeText("
                            f"document.getElementById('{field}').value)"
                        ),
                        rx.toast.success("Copied."),
                    ],
                    data_testid="copy-portal-link",
                ),
                width="100%",
                align="center",
            ),
            rx.text(Customers.portal_link_note, size="1", color_scheme="gray"),
            spacing="1",
            width="100%",
        ),
        display=rx.cond(Customers.portal_link_note != "", "block", "none"),
        width="100%",
    )


def customer_detail_page() -> rx.Component:
    record = Customers.record
    return page_shell(
        rx.vstack(
            merchant_header("Customer"),
            rx.cond(
                record.contains("id"),
                rx.vstack(
                    rx.heading(
                        record["name"].to(str),
                        " · ",
                        record["email"].to(str),
                        size="4",
                        data_testid="customer-heading",
                    ),
                    rx.text(
                        "Open balance ",
                        record["balance"].to(str),
                        " · credit ",
                        record["credit"].to(str),
                        size="2",
                    ),
                    rx.hstack(
                        rx.cond(
                            staff_can("support"),
                            rx.button(
                                "Create a portal link",
                                variant="soft",
                                on_click=Customers.create_portal_link,
                                data_testid="create-portal-link",
                            ),
                        ),
                        _portal_link_field(),
                        wrap="wrap",
                        align="center",
                    ),
                    _record_table(
                        "Subscriptions",
                        "subscriptions",
                        [("#", "id"), ("Status", "status"), ("Period end", "period_end")],
                    ),
                    _record_table(
                        "Invoices",
                        "invoices",
                        [
                            ("Number", "number"),
                            ("Date", "date"),
                            ("Total", "total"),
                            ("Status", "status"),
                        ],
                    ),
                    _record_table(
                        "Payments",
                        "payments",
                        [
                            ("Date", "date"),
                            ("Amount", "amount"),
                            ("Status", "status"),
                            ("Code", "code"),
                        ],
                    ),
                    _record_table(
                        "Cards", "cards", [("Card", "label"), ("Expiry", "expiry"), ("", "default")]
                    ),
                    _record_table("Downloads", "downloads", [("Asset", "asset"), ("Date", "date")]),
                    _record_table(
                        "Audit trail",
                        "audit",
                        [
                            ("#", "seq"),
                            ("When", "when"),
                            ("Action", "action"),
                            ("Actor", "actor"),
                            ("Result", "result"),
                        ],
                    ),
                    spacing="3",
                    width="100%",
                ),
                rx.center(rx.spinner(size="3"), padding="3rem", aria_label="Loading"),
            ),
            spacing="3",
            width="100%",
        ),
        subtitle="Customer",
    )
