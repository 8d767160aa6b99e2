"""Merchant dashboard pages: Settings → Customer Portal, the audit log, the billing clock and
customers. Controls a member's role can't use are hidden or disabled (`staff_can`); that only
spares clicks: every handler checks the role on the server."""

from __future__ import annotations

import reflex as rx

from portal_app.components import page_shell
from portal_app.components.merchant_nav import merchant_nav
from portal_app.components.pager import pager
from portal_app.components.portal_layout import sign_out_button
from portal_app.services import features, staff_roles
from portal_app.state.guard import SessionState
from portal_app.state.merchant_billing_views import PortalPreviewState as Preview
from portal_app.state.merchant_customers import PORTAL_LINK_FIELD
from portal_app.state.merchant_customers import MerchantCustomersState as Customers
from portal_app.state.merchant_settings import GROUP_TITLES, MerchantSettingsState
from portal_app.state.merchant_tools import MerchantAuditState as Audit
from portal_app.state.merchant_tools import MerchantBillingState as Billing

INPUT_STYLE = {
    "padding": "6px 8px",
    "border": "1px solid var(--gray-a7)",
    "border_radius": "6px",
    "width": "100%",
    "max_width": "22rem",
    "background": "var(--color-surface)",
}


def staff_can(need: str) -> rx.Var:
    """Whether the signed-in member's role (as the last staff guard read it) allows `need`.
    False until a staff handler has run, so write controls never flash for a viewer."""
    return rx.Var.create(list(staff_roles.at_least(need))).contains(SessionState.staff_role)


def role_label() -> rx.Var:
    return rx.match(
        SessionState.staff_role, *[(r, staff_roles.LABELS[r]) for r in staff_roles.STAFF_ROLES], ""
    )


def _roles_text(need: str) -> str:
    """ "Admin or Owner", "Support, Admin or Owner"."""
    labels = [staff_roles.LABELS[r] for r in staff_roles.at_least(need)]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


def read_only_note(need: str, what: str) -> rx.Component:
    """Says why a page shows no write controls, instead of leaving the member guessing."""
    return rx.cond(
        ~staff_can(need) & (SessionState.staff_role != ""),
        rx.callout(
            rx.text(
                "Your role (",
                role_label(),
                f") lets you view {what}; changing it needs {_roles_text(need)}. "
                "An owner can change your role.",
            ),
            icon="eye",
            color_scheme="gray",
            width="100%",
            data_testid="read-only-note",
        ),
    )


def _field(index: int, key: str, option: features.Option) -> rx.Component:
    row = MerchantSettingsState.rows[index]
    label_id = f"setting-{key.replace('.', '-')}"
    if option.kind == "bool":
        control = rx.el.input(
            type="checkbox",
            name=key,
            id=label_id,
            default_checked=row["checked"].to(bool),
            disabled=option.always_on,
            style={"width": "18px", "height": "18px"},
        )
    elif option.kind == "choice":
        control = rx.el.select(
            *[rx.el.option(choice.replace("_", " "), value=choice) for choice in option.choices],
            name=key,
            id=label_id,
            default_value=row["value"].to(str),
            style=INPUT_STYLE,
        )
    elif option.kind == "fields":
        control = rx.el.textarea(
            name=key,
            id=label_id,
            default_value=row["value"].to(str),
            rows=3,
            style={**INPUT_STYLE, "max_width": "100%", "font_family": "monospace"},
        )
    else:
        control = rx.el.input(
            name=key,
            id=label_id,
            default_value=row["value"].to(str),
            type="number" if option.kind == "int" else "text",
            style=INPUT_STYLE,
        )
    return rx.flex(
        rx.el.label(option.label, html_for=label_id, style={"flex": "1", "min_width": "12rem"}),
        control,
        justify="between",
        align="center",
        spacing="3",
        wrap="wrap",
        width="100%",
        padding_y="0.35rem",
        data_testid=f"setting-{key}",
    )


def _groups() -> list[rx.Component]:
    cards, current_group, fields = [], None, []
    for index, (key, option) in enumerate(features.FEATURES.items()):
        group = key.split(".")[0]
        if group != current_group and fields:
            cards.append(_group_card(current_group, fields))
            fields = []
        current_group = group
        fields.append(_field(index, key, option))
    cards.append(_group_card(current_group, fields))
    return cards


def _group_card(group: str, fields: list[rx.Component]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(GROUP_TITLES.get(group, group), size="3", as_="h3"),
            *fields,
            spacing="1",
            width="100%",
        ),
        width="100%",
    )


def _presets() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Presets", size="4", as_="h2"),
            rx.text(
                "Start from a business type. You will see every change before it applies.",
                size="2",
                color_scheme="gray",
            ),
            rx.flex(
                rx.foreach(
                    MerchantSettingsState.presets,
                    lambda p: rx.button(
                        p["label"],
                        variant="soft",
                        on_click=MerchantSettingsState.preview_preset(p["key"]),
                        data_testid="preset-" + p["key"],
                    ),
                ),
                spacing="2",
                wrap="wrap",
            ),
            rx.cond(
                MerchantSettingsState.chosen_preset != "",
                rx.vstack(
                    rx.cond(
                        MerchantSettingsState.preset_diff.length() > 0,
                        rx.box(
                            rx.table.root(
                                rx.table.header(
                                    rx.table.row(
                                        rx.table.column_header_cell("Setting"),
                                        rx.table.column_header_cell("Now"),
                                        rx.table.column_header_cell("After"),
                                    )
                                ),
                                rx.table.body(
                                    rx.foreach(
                                        MerchantSettingsState.preset_diff,
                                        lambda d: rx.table.row(
                                            rx.table.cell(d["label"]),
                                            rx.table.cell(d["before"]),
                                            rx.table.cell(d["after"]),
                                            data_testid="preset-diff-row",
                                        ),
                                    )
                                ),
                                width="100%",
                            ),
                            overflow_x="auto",
                            width="100%",
                        ),
                        rx.text("This preset matches your current settings.", size="2"),
                    ),
                    rx.hstack(
                        rx.button(
                            "Apply preset",
                            on_click=MerchantSettingsState.apply_preset,
                            data_testid="apply-preset",
                        ),
                        rx.button(
                            "Cancel",
                            variant="soft",
                            color_scheme="gray",
                            on_click=MerchantSettingsState.close_preset,
                        ),
                    ),
                    width="100%",
                    spacing="3",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _preview_card() -> rx.Component:
    """Preview as customer: a one-time link for the merchant's stand-in customer, in a new tab."""
    return rx.card(
        rx.vstack(
            rx.heading("Preview as customer", size="4", as_="h2"),
            rx.text(
                "Open the portal in a new tab the way a customer sees it, with the saved "
                "settings. You are signed in as a stand-in customer, never as a real customer: "
                "it has a sandbox test card and a subscription to your cheapest monthly price, "
                "with its invoice and receipt, and is left out of your customer lists and "
                "analytics. Without an active monthly price it has no subscription, invoices "
                "or cards.",
                size="2",
            ),
            rx.text(
                "You stay signed in to the dashboard. The preview replaces a customer sign-in "
                "of yours in this browser, if you have one.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                staff_can("support"),
                rx.button(
                    rx.icon("external-link", size=16),
                    "Preview as customer",
                    variant="soft",
                    on_click=Preview.open_preview,
                    data_testid="preview-as-customer",
                ),
                rx.text(
                    f"Previewing needs {_roles_text('support')}.", size="2", color_scheme="gray"
                ),
            ),
            rx.cond(
                Preview.opened,
                rx.callout(
                    "The preview opened in a new tab with a link that works once. Nothing "
                    "opened? Allow pop-ups for this site and press the button again.",
                    icon="info",
                    width="100%",
                    data_testid="preview-opened",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def portal_settings_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            _merchant_header("Settings → Customer Portal"),
            rx.cond(
                MerchantSettingsState.loaded,
                rx.vstack(
                    read_only_note("admin", "these settings"),
                    _preview_card(),
                    rx.cond(staff_can("admin"), _presets()),
                    rx.form(
                        rx.vstack(
                            # disabled for a role that can't save: values stay readable
                            rx.el.fieldset(
                                rx.vstack(*_groups(), spacing="3", width="100%"),
                                disabled=~staff_can("admin"),
                                style={"border": "none", "padding": "0", "margin": "0"},
                                width="100%",
                            ),
                            rx.cond(
                                MerchantSettingsState.error != "",
                                rx.callout(
                                    MerchantSettingsState.error,
                                    icon="triangle-alert",
                                    color_scheme="red",
                                    role="alert",
                                    width="100%",
                                ),
                            ),
                            rx.cond(
                                staff_can("admin"),
                                rx.button(
                                    "Save changes",
                                    type="submit",
                                    size="3",
                                    data_testid="save-settings",
                                ),
                            ),
                            spacing="3",
                            width="100%",
                        ),
                        on_submit=MerchantSettingsState.save,
                        key=MerchantSettingsState.form_version,
                        width="100%",
                    ),
                    spacing="4",
                    width="100%",
                ),
                rx.center(rx.spinner(size="3"), padding="3rem", aria_label="Loading"),
            ),
            spacing="4",
            width="100%",
        ),
        subtitle="Merchant settings",
    )


def _merchant_header(title: str) -> rx.Component:
    """The page title, the member's role and what it allows, sign-out and the section links."""
    return rx.vstack(
        merchant_nav(),
        rx.flex(
            rx.heading(title, size="6", as_="h1"),
            rx.hstack(
                role_badge(),
                sign_out_button(staff=True),
                align="center",
                spacing="3",
                wrap="wrap",
            ),
            justify="between",
            align="center",
            width="100%",
            wrap="wrap",
            spacing="3",
        ),
        rx.cond(
            SessionState.staff_role != "",
            rx.text(
                rx.match(
                    SessionState.staff_role,
                    *[(r, staff_roles.SUMMARIES[r]) for r in staff_roles.STAFF_ROLES],
                    "",
                ),
                size="1",
                color_scheme="gray",
                data_testid="staff-role-summary",
            ),
        ),
        spacing="3",
        width="100%",
    )


def role_badge() -> rx.Component:
    """The signed-in member's role, in the dashboard header."""
    return rx.cond(
        SessionState.staff_role != "",
        rx.badge(
            "Role: ",
            role_label(),
            color_scheme=rx.match(
                SessionState.staff_role, ("owner", "purple"), ("admin", "blue"), "gray"
            ),
            size="2",
            data_testid="staff-role",
        ),
    )


def audit_log_page() -> rx.Component:
    filter_input = {"size": "2"}
    return page_shell(
        rx.vstack(
            _merchant_header("Audit log"),
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


def billing_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            _merchant_header("Billing clock"),
            read_only_note("admin", "the billing clock"),
            rx.card(
                rx.vstack(
                    rx.text("Merchant time: ", Billing.merchant_now, weight="medium"),
                    rx.cond(
                        staff_can("admin"),
                        rx.button(
                            "Run the billing clock now", on_click=Billing.run_now, variant="soft"
                        ),
                    ),
                    spacing="2",
                ),
                width="100%",
            ),
            rx.cond(
                Billing.is_demo,
                rx.card(
                    rx.vstack(
                        rx.heading("Test clock", size="4", as_="h2"),
                        rx.text(
                            "Move this demo merchant's time forward: renewals, retries, pauses "
                            "and cancellations happen as they would.",
                            size="2",
                        ),
                        rx.cond(
                            staff_can("admin"),
                            rx.flex(
                                *[
                                    rx.button(
                                        f"+{days} days",
                                        on_click=Billing.start_advance(days),
                                        disabled=Billing.working,
                                        data_testid=f"advance-{days}",
                                    )
                                    for days in (1, 7, 30, 90)
                                ],
                                spacing="2",
                                wrap="wrap",
                            ),
                        ),
                        rx.cond(
                            Billing.working,
                            rx.hstack(
                                rx.spinner(),
                                rx.text("Running the billing clock…"),
                                align="center",
                                data_testid="clock-working",
                            ),
                        ),
                        spacing="3",
                    ),
                    width="100%",
                ),
            ),
            rx.cond(
                Billing.last_report != "",
                rx.callout(Billing.last_report, icon="clock", data_testid="clock-report"),
            ),
            rx.cond(
                Billing.error != "", rx.callout(Billing.error, color_scheme="red", role="alert")
            ),
            spacing="3",
            width="100%",
        ),
        subtitle="Billing",
    )


def customers_page() -> rx.Component:
    return page_shell(
        rx.vstack(
            _merchant_header("Customers"),
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
            _merchant_header("Customer"),
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
