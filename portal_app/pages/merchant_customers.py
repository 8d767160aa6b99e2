"""Merchant dashboard → Customers: the list (search, pages) and one customer's record with a
one-time portal link (support and up). Controls a member's role can't use are hidden
(`staff_can`); every handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.merchant_header import INPUT_STYLE, staff_button
from portal_app.components.pager import pager
from portal_app.state.merchant_customers import PORTAL_LINK_FIELD
from portal_app.state.merchant_customers import MerchantCustomersState as Customers


def _customer_row(c: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.link(
                rx.cond(c["name"] != "", c["name"], "(no name)"),
                href=f"{routes.MERCHANT_CUSTOMERS}/{c['id']}",
            )
        ),
        rx.table.cell(c["email"]),
        rx.table.cell(c["since"]),
        data_testid="customer-row",
    )


def customers_page() -> rx.Component:
    return ui.merchant_page(
        "Customers",
        rx.flex(
            rx.form(
                rx.hstack(
                    rx.input(
                        name="q", placeholder="Search name or email", aria_label="Search customers"
                    ),
                    rx.button("Search", type="submit"),
                ),
                on_submit=Customers.search,
            ),
            rx.link("Import from CSV", href=routes.MERCHANT_IMPORT, data_testid="import-link"),
            justify="between",
            align="center",
            wrap="wrap",
            spacing="3",
            width="100%",
        ),
        rx.text(Customers.total, " customers", size="2"),
        # the one table of the dashboard in the default (larger) size
        ui.data_table(
            ("Name", "Email", "Since"), rows=Customers.rows, render=_customer_row, size=None
        ),
        pager(Customers),
        spacing="3",
    )


def _record_table(title: str, key: str, columns: list[tuple[str, str]]) -> rx.Component:
    return ui.section_card(
        title,
        ui.data_table(
            columns=columns,
            rows=Customers.record[key],
            empty=ui.empty_state("None.", plain=True),
        ),
        heading_size="3",
        spacing="2",
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
    return ui.merchant_page(
        "Customer",
        ui.when_loaded(
            record.contains("id"),
            rx.heading(
                record.name,
                " · ",
                record.email,
                size="4",
                data_testid="customer-heading",
            ),
            rx.text(
                "Open balance ",
                record.balance,
                " · credit ",
                record.credit,
                size="2",
            ),
            rx.hstack(
                staff_button(
                    "support",
                    "Create a portal link",
                    Customers.create_portal_link,
                    "create-portal-link",
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
        ),
        spacing="3",
    )
