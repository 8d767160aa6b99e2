"""Merchant dashboard → Customers → Import from CSV (owners and admins): the columns explained,
an upload that is checked at once, every problem listed by line, then one Import button."""

from __future__ import annotations

import reflex as rx

from portal_app import routes
from portal_app.components import ui
from portal_app.components.ui import secondary_button
from portal_app.components.upload_drop import dropzone
from portal_app.services.customer_import import MAX_PROBLEMS_SHOWN
from portal_app.state.merchant_import import UPLOAD_ID
from portal_app.state.merchant_import import MerchantImportState as Imp

COLUMNS_HELP = (
    "A header row, then one customer per row. Columns: email (required), name, external_id "
    "(your own id), currency, and for a subscription: plan (the plan's slug), interval "
    "(month or year), status (active, trialing or past_due), current_period_end and trial_end "
    "(dates such as 2027-01-31). Extra columns named metadata.<key> become metadata. "
    "Subscriptions are not charged now: they renew at their current_period_end. Importing the "
    "same file again changes nothing."
)


def _dropzone() -> rx.Component:
    return rx.vstack(
        dropzone(
            UPLOAD_ID,
            "Drop a CSV file here, or press to choose one",
            "Up to 20 MB and 100,000 rows.",
            max_size=20 * 1024 * 1024,
            accept={"text/csv": [".csv"]},
            testid="import-dropzone",
            selected_testid="import-selected",
            aria_label="Choose a CSV file to import",
        ),
        rx.button(
            "Check file",
            on_click=Imp.upload(rx.upload_files(upload_id=UPLOAD_ID), Imp.upload_ticket),
            disabled=rx.selected_files(UPLOAD_ID).length() == 0,
            data_testid="import-check",
        ),
        spacing="2",
        width="100%",
    )


def _problems() -> rx.Component:
    return rx.vstack(
        rx.callout(
            rx.text(
                Imp.problem_count.to(str),
                " problems: nothing can be imported until they are fixed. ",
                rx.cond(
                    Imp.problem_count > MAX_PROBLEMS_SHOWN,
                    f"The first {MAX_PROBLEMS_SHOWN} are listed.",
                    "",
                ),
            ),
            icon="triangle_alert",
            color_scheme="red",
            data_testid="import-problems",
        ),
        ui.data_table(
            ("Line", "Problem"),
            rows=Imp.problems,
            render=lambda p: rx.table.row(
                rx.table.cell(p["line"]),
                rx.table.cell(p["message"]),
                data_testid="import-problem",
            ),
            size="1",
        ),
        width="100%",
    )


def _result() -> rx.Component:
    return rx.cond(
        Imp.summary != "",
        ui.card_stack(
            rx.text(rx.text.strong(Imp.file_name), size="2"),
            rx.text(Imp.summary, size="2", data_testid="import-summary"),
            rx.cond(Imp.problem_count > 0, _problems()),
            rx.flex(
                rx.cond(
                    Imp.ready,
                    rx.button("Import", on_click=Imp.run_import, data_testid="import-run"),
                ),
                rx.cond(
                    Imp.imported,
                    rx.link("See the customers", href=routes.MERCHANT_CUSTOMERS),
                    secondary_button("Discard file", on_click=Imp.discard),
                ),
                spacing="2",
                align="center",
            ),
        ),
    )


def import_page() -> rx.Component:
    return ui.restricted_page(
        "Import customers",
        Imp.access,
        rx.vstack(
            rx.text(COLUMNS_HELP, size="2"),
            _dropzone(),
            ui.error_callout(Imp.error, width="100%", testid="import-error"),
            _result(),
            spacing="4",
            width="100%",
        ),
        role="admin",
        denied="Only owners and admins import customers.",
        testid="import-admins-only",
    )
