"""Merchant dashboard → Webhooks (owners and admins): endpoints added with the events they want
(the signing secret shown once), tested, disabled, rotated and deleted behind a confirmation;
one endpoint's deliveries with status, code, latency and answer, filtered, each replayable."""

from __future__ import annotations

import reflex as rx

from portal_app.components import form_fields as ff
from portal_app.components import ui
from portal_app.components.merchant_header import INPUT_STYLE
from portal_app.components.page_parts import confirm_dialog, shown_once_dialog
from portal_app.components.ui import secondary_button
from portal_app.services.merchant_webhooks_view import STATUSES
from portal_app.state.merchant_webhooks import MerchantWebhooksState as Hooks

STATUS_BADGES = {
    "enabled": ("Enabled", "green"),
    "disabled": ("Disabled", "gray"),
    "pending": ("Pending", "amber"),
    "sending": ("Sending", "blue"),
    "succeeded": ("Succeeded", "green"),
    "failed": ("Failed", "red"),
}


def _type_box(event_type: rx.Var) -> rx.Component:
    box_id = "type-" + event_type
    return rx.el.label(
        rx.el.input(type="checkbox", id=box_id, name="type_" + event_type),
        rx.code(event_type, size="1"),
        html_for=box_id,
        style={"display": "flex", "gap": "0.4rem", "align_items": "center", "min_width": "15rem"},
    )


def _create_form() -> rx.Component:
    return ff.section_form(
        "Add an endpoint",
        "Portal POSTs each event to this URL, signed per Standard Webhooks. Your app "
        "should answer 2xx within 15 s; failed deliveries are retried for about a day.",
        rx.vstack(
            rx.el.label("Endpoint URL", html_for="hook-url"),
            rx.el.input(
                id="hook-url",
                name="url",
                type="url",
                required=True,
                max_length=2000,
                auto_complete="off",
                placeholder="https://your-app.example.com/webhooks/portal",
                style=INPUT_STYLE,
            ),
            rx.el.label("Description (optional)", html_for="hook-description"),
            rx.el.input(
                id="hook-description",
                name="description",
                max_length=200,
                auto_complete="off",
                style=INPUT_STYLE,
            ),
            spacing="1",
            width="100%",
            max_width="34rem",
        ),
        rx.el.details(
            rx.el.summary("Events to send (none ticked: every event)"),
            rx.flex(
                rx.foreach(Hooks.event_types, _type_box),
                wrap="wrap",
                column_gap="1rem",
                row_gap="0.3rem",
                padding_top="0.5rem",
            ),
        ),
        rx.button("Add endpoint", type="submit", data_testid="create-endpoint"),
        ui.error_callout(Hooks.create_error, width="100%", testid="create-endpoint-error"),
        on_submit=Hooks.create,
        key=Hooks.form_version.to(str),
        once=True,
    )


def _endpoint_row(e: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.code(e["url"], size="1", style={"overflow_wrap": "anywhere"}),
                rx.cond(e["description"] != "", rx.text(e["description"], size="1")),
                rx.text(e["types"], size="1", color_scheme="gray"),
                spacing="1",
                min_width="14rem",
            )
        ),
        rx.table.cell(
            rx.vstack(
                ui.labelled_badge(e["status"], STATUS_BADGES, ("", "gray")),
                rx.cond(e["disabled_reason"] != "", rx.text(e["disabled_reason"], size="1")),
                spacing="1",
            )
        ),
        rx.table.cell(e["created"], white_space="nowrap"),
        rx.table.cell(
            ui.row_actions(
                ui.row_action(
                    "Deliveries",
                    Hooks.show(e["id"]),
                    aria_label="Deliveries to " + e["url"],
                    testid="show-deliveries",
                ),
                ui.row_action("Send test", Hooks.send_test(e["id"]), testid="send-test"),
                rx.cond(
                    e["status"] == "enabled",
                    ui.row_action(
                        "Disable", Hooks.switch_endpoint(e["id"], False), testid="disable-endpoint"
                    ),
                    ui.row_action(
                        "Enable", Hooks.switch_endpoint(e["id"], True), testid="enable-endpoint"
                    ),
                ),
                ui.row_action("Rotate secret", Hooks.ask("rotate", e["id"]), testid="rotate"),
                ui.row_action(
                    "Delete",
                    Hooks.ask("delete", e["id"]),
                    color="red",
                    aria_label="Delete " + e["url"],
                    testid="delete-endpoint",
                ),
            )
        ),
        key=e["id"],
        data_testid="endpoint-row",
    )


def _delivery_row(d: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(d["event"], size="1")),
        rx.table.cell(ui.labelled_badge(d["status"], STATUS_BADGES, ("", "gray"))),
        rx.table.cell(d["attempts"]),
        rx.table.cell(d["code"], data_testid="delivery-code"),
        rx.table.cell(d["latency"], white_space="nowrap"),
        rx.table.cell(
            rx.text(d["response"], size="1", style={"overflow_wrap": "anywhere"}),
            min_width="12rem",
        ),
        rx.table.cell(rx.text(d["when"], size="1"), min_width="9rem"),
        rx.table.cell(ui.row_action("Replay", Hooks.replay(d["id"]), testid="replay")),
        key=d["id"],
        data_testid="delivery-row",
        data_status=d["status"],
    )


def _deliveries() -> rx.Component:
    return rx.cond(
        Hooks.selected_id != "",
        rx.vstack(
            rx.heading("Deliveries to ", rx.code(Hooks.selected_url), size="4", as_="h2"),
            rx.flex(
                ff.labelled_select(
                    "Event type",
                    "filter-type",
                    rx.el.option("All types", value=""),
                    rx.foreach(Hooks.event_types, lambda t: rx.el.option(t, value=t)),
                    min_width="12rem",
                    value=Hooks.type_filter,
                    on_change=Hooks.filter_type,
                ),
                ff.labelled_select(
                    "Status",
                    "filter-status",
                    rx.el.option("All statuses", value=""),
                    *[rx.el.option(s.capitalize(), value=s) for s in STATUSES],
                    min_width="12rem",
                    value=Hooks.status_filter,
                    on_change=Hooks.filter_status,
                ),
                rx.box(secondary_button("Refresh", on_click=Hooks.refresh), align_self="end"),
                spacing="3",
                wrap="wrap",
            ),
            ui.data_table(
                ("Event", "Status", "Tries", "Code", "Latency", "Answer", "When", ""),
                rows=Hooks.deliveries,
                render=_delivery_row,
                size="1",
                empty=rx.callout(
                    "No deliveries match. Events appear here as they happen.",
                    icon="inbox",
                    data_testid="deliveries-empty",
                ),
            ),
            width="100%",
            spacing="3",
        ),
    )


def _secret_dialog() -> rx.Component:
    return shown_once_dialog(
        rx.dialog.title("Signing secret"),
        rx.dialog.description(
            "For ",
            rx.code(Hooks.secret_for),
            ". Copy it into your app now: it is not shown again.",
            size="2",
        ),
        Hooks.secret,
        testid="endpoint-secret",
        done_testid="secret-done",
        on_open_change=Hooks.close_secret,
    )


def _confirm_dialog() -> rx.Component:
    deleting = Hooks.confirm_kind == "delete"
    return confirm_dialog(
        rx.cond(deleting, "Delete this endpoint?", "Rotate the signing secret?"),
        rx.cond(
            deleting,
            "Nothing more is sent to " + Hooks.confirm_url + ", and its delivery history is "
            "removed. This cannot be undone.",
            "A new secret signs every delivery to " + Hooks.confirm_url + " from now on; the "
            "current one also signs for 24 hours, so your app can switch without losing events.",
        ),
        keep="Cancel",
        on_keep=Hooks.confirm_visibility(False),
        action=rx.cond(deleting, "Delete endpoint", "Rotate secret"),
        on_confirm=Hooks.confirm,
        color=rx.cond(deleting, "red", "blue"),
        testid="confirm-endpoint",
        open=Hooks.confirm_kind != "",
        on_open_change=Hooks.confirm_visibility,
        wrap="wrap",
    )


def webhooks_page() -> rx.Component:
    return ui.restricted_page(
        "Webhooks",
        Hooks.access,
        ui.when_loaded(
            Hooks.loaded,
            rx.text(
                "Events, payloads and how to verify signatures: docs/WEBHOOKS.md. "
                "The worker delivers; the list below shows how each try went.",
                size="2",
            ),
            _create_form(),
            rx.heading("Endpoints", size="4", as_="h2"),
            ui.data_table(
                ("Endpoint", "Status", "Added", ""),
                rows=Hooks.endpoints,
                render=_endpoint_row,
                size="2",
                empty=rx.callout(
                    "No endpoints yet. Add your app's URL above to receive events.",
                    icon="webhook",
                    data_testid="endpoints-empty",
                ),
            ),
            _deliveries(),
            _secret_dialog(),
            _confirm_dialog(),
        ),
        role="admin",
        denied="Only owners and admins manage webhooks.",
        testid="webhooks-admins-only",
    )
