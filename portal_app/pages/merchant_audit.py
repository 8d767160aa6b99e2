"""Merchant dashboard pages: Settings → Customer Portal, the audit log, the billing clock and
customers. Controls a member's role can't use are hidden or disabled (`staff_can`); that only
spares clicks: every handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell
from portal_app.components.merchant_header import merchant_header, staff_can
from portal_app.components.pager import pager
from portal_app.state.merchant_audit import MerchantAuditState as Audit


def audit_log_page() -> rx.Component:
    filter_input = {"size": "2"}
    return page_shell(
        rx.vstack(
            merchant_header("Audit log"),
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
            rx.form(
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
            ),
            rx.cond(Audit.error != "", rx.callout(Audit.error, color_scheme="red", role="alert")),
            rx.hstack(
                rx.text(Audit.total, " events", size="2"),
                rx.cond(
                    staff_can("admin"),
                    rx.button(
                        "Export CSV",
                        variant="soft",
                        on_click=Audit.export,
                        data_testid="export-csv",
                    ),
                ),
                align="center",
            ),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in (
                                    "#",
                                    "When (UTC)",
                                    "Actor",
                                    "Action",
                                    "Target",
                                    "Result",
                                    "IP",
                                )
                            ]
                        )
                    ),
                    rx.table.body(
                        rx.foreach(
                            Audit.rows,
                            lambda r: rx.table.row(
                                rx.table.cell(r["seq"]),
                                rx.table.cell(r["when"]),
                                rx.table.cell(r["actor"]),
                                rx.table.cell(r["action"]),
                                rx.table.cell(r["target"]),
                                rx.table.cell(r["result"]),
                                rx.table.cell(r["ip"]),
                            ),
                        )
                    ),
                    size="1",
                    width="100%",
                ),
                overflow_x="auto",
                width="100%",
            ),
            pager(Audit),
            rx.heading("Refused requests, last 24 hours", size="4", as_="h2"),
            rx.text(
                "Throttled sign-ins, bad links and denied requests are counted per rule, "
                "source and minute here instead of one audit event each.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                Audit.refused,
                rx.box(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *[
                                    rx.table.column_header_cell(h)
                                    for h in ("Minute (UTC)", "Action", "Rule", "Source", "Count")
                                ]
                            )
                        ),
                        rx.table.body(
                            rx.foreach(
                                Audit.refused,
                                lambda r: rx.table.row(
                                    rx.table.cell(r["minute"]),
                                    rx.table.cell(r["action"]),
                                    rx.table.cell(r["rule"]),
                                    rx.table.cell(r["key"]),
                                    rx.table.cell(r["count"]),
                                ),
                            )
                        ),
                        size="1",
                        data_testid="refused-requests",
                    ),
                    overflow_x="auto",
                    width="100%",
                ),
                rx.text("No refused requests in the last 24 hours.", size="2"),
            ),
            spacing="3",
            width="100%",
        ),
        subtitle="Audit log",
    )
