"""Merchant dashboard → Audit log: the chain's status and full check, filters, the events page
by page, CSV export, and the refused requests of the last day. Controls a member's role can't
use are hidden (`staff_can`); every handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.merchant_header import staff_button, staff_can
from portal_app.components.page_parts import subheading
from portal_app.components.pager import pager
from portal_app.state.merchant_audit import MerchantAuditState as Audit

EVENT_COLUMNS = [
    ("#", "seq"),
    ("When (UTC)", "when"),
    ("Actor", "actor"),
    ("Action", "action"),
    ("Target", "target"),
    ("Result", "result"),
    ("IP", "ip"),
]
REFUSED_COLUMNS = [
    ("Minute (UTC)", "minute"),
    ("Action", "action"),
    ("Rule", "rule"),
    ("Source", "key"),
    ("Count", "count"),
]


def _filters() -> rx.Component:
    filter_input = {"size": "2"}
    return rx.form(
        rx.flex(
            rx.input(
                name="actor",
                placeholder="Actor (customer:12, merchant, system)",
                **filter_input,
            ),
            rx.input(name="action", placeholder="Action starts with…", **filter_input),
            rx.input(name="customer", placeholder="Customer id", **filter_input),
            rx.input(name="since", type="date", aria_label="From", **filter_input),
            rx.input(name="until", type="date", aria_label="To", **filter_input),
            rx.button("Filter", type="submit"),
            spacing="2",
            wrap="wrap",
        ),
        on_submit=Audit.search,
    )


def _refused() -> rx.Component:
    """The refusal tallies; the table is not full width (it has few, narrow columns)."""
    table = rx.table.root(
        rx.table.header(
            rx.table.row(*[rx.table.column_header_cell(h) for h, _ in REFUSED_COLUMNS])
        ),
        rx.table.body(
            rx.foreach(
                Audit.refused,
                lambda r: rx.table.row(*[rx.table.cell(r[key]) for _, key in REFUSED_COLUMNS]),
            )
        ),
        size="1",
        data_testid="refused-requests",
    )
    return rx.cond(
        Audit.refused,
        rx.box(table, overflow_x="auto", width="100%"),
        rx.text("No refused requests in the last 24 hours.", size="2"),
    )


def audit_log_page() -> rx.Component:
    return ui.merchant_page(
        "Audit log",
        rx.callout(Audit.chain, icon="shield-check", data_testid="chain-status"),
        rx.cond(
            staff_can("admin"),
            rx.hstack(
                rx.button(
                    rx.cond(Audit.verifying, "Checking every event…", "Check the whole chain"),
                    variant="soft",
                    loading=Audit.verifying,
                    disabled=Audit.verifying,
                    on_click=Audit.start_full_check,
                    data_testid="full-chain-check",
                ),
                rx.text(Audit.full_check, size="2", role="status"),
                align="center",
                wrap="wrap",
            ),
        ),
        _filters(),
        ui.error_callout(Audit.error, icon=None),
        rx.hstack(
            rx.text(Audit.total, " events", size="2"),
            staff_button("admin", "Export CSV", Audit.export, "export-csv"),
            align="center",
        ),
        ui.data_table(columns=EVENT_COLUMNS, rows=Audit.rows),
        pager(Audit),
        *subheading(
            "Refused requests, last 24 hours",
            "Throttled sign-ins, bad links and denied requests are counted per rule, "
            "source and minute here instead of one audit event each.",
        ),
        _refused(),
        spacing="3",
    )
