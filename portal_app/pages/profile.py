"""Customer pages: profile and email notification preferences."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.components.portal_form import form_stack
from portal_app.components.portal_layout import stacked_page
from portal_app.services import email_change
from portal_app.state.profile import ADDRESS_FIELDS, ProfileState

ADDRESS_LABELS = {
    "line1": "Address",
    "line2": "Address line 2",
    "city": "City",
    "postal_code": "Postal code",
    "state": "State / region",
    "country": "Country (2-letter code)",
}


def _labelled(label: str, control: rx.Component, html_id: str) -> rx.Component:
    return rx.vstack(
        rx.el.label(label, html_for=html_id, style={"font_weight": "500"}),
        control,
        spacing="1",
        width="100%",
    )


def _text(name: str, label: str, value: rx.Var, enabled: rx.Var, **props) -> rx.Component:
    return _labelled(
        label,
        rx.input(name=name, id=name, default_value=value, disabled=~enabled, width="100%", **props),
        name,
    )


def _address(prefix: str, title: str, data: rx.Var, enabled: rx.Var) -> rx.Component:
    return ui.section_card(
        title,
        rx.cond(~enabled, rx.text("You cannot edit this here.", size="1", color_scheme="gray")),
        rx.grid(
            *[
                _text(f"{prefix}_{field}", ADDRESS_LABELS[field], data[field].to(str), enabled)
                for field in ADDRESS_FIELDS
            ],
            columns=rx.breakpoints(initial="1", sm="2"),
            spacing="3",
            width="100%",
        ),
        heading_size="3",
        spacing="2",
    )


def _custom_field(field: rx.Var) -> rx.Component:
    name = "custom_" + field.key.to(str)
    value = ProfileState.values[field.key.to(str)]
    return _labelled_dynamic(
        field.label.to(str),
        rx.match(
            field.type.to(str),
            (
                "select",
                rx.el.select(
                    rx.el.option("", value=""),
                    rx.foreach(field.options.to(list[str]), lambda o: rx.el.option(o, value=o)),
                    name=name,
                    default_value=value,
                    style={"padding": "6px", "border_radius": "6px", "width": "100%"},
                ),
            ),
            (
                "checkbox",
                rx.el.input(
                    type="checkbox", name=name, value="true", default_checked=value == "True"
                ),
            ),
            ("number", rx.input(type="number", name=name, default_value=value, width="100%")),
            ("date", rx.input(type="date", name=name, default_value=value, width="100%")),
            rx.input(name=name, default_value=value, width="100%"),
        ),
    )


def _labelled_dynamic(label: rx.Var, control: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, weight="medium"), control, spacing="1", width="100%")


def _email_form() -> rx.Component:
    return form_stack(
        rx.el.label("New email address", html_for="new_email", style={"font_weight": "500"}),
        rx.input(
            name="new_email",
            id="new_email",
            type="email",
            placeholder="you@example.com",
            required=True,
            auto_complete="email",
            width="100%",
        ),
        rx.text(
            "We send a confirmation link to the new address and a note to your current one.",
            size="1",
            color_scheme="gray",
        ),
        rx.button("Send confirmation link", type="submit", variant="soft"),
        ui.message_callout(
            ProfileState.email_message, icon="mail", role="status", testid="email-message"
        ),
        on_submit=ProfileState.change_email,
        spacing="2",
        reset_on_submit=True,
        width="100%",
    )


def _reauth() -> rx.Component:
    """Signed in too long ago: a fresh link first (OWASP: re-authenticate before changing
    how the account signs in)."""
    return rx.vstack(
        rx.callout(
            "For your security, sign in again to change your email.",
            icon="shield-check",
            color_scheme="amber",
            data_testid="email-reauth",
        ),
        rx.button(
            "Email me a sign-in link",
            variant="soft",
            on_click=ProfileState.send_reauth_link,
            data_testid="send-reauth-link",
        ),
        ui.message_callout(ProfileState.reauth_message, icon="mail", role="status"),
        spacing="2",
        width="100%",
    )


def _email_card() -> rx.Component:
    return ui.section_card(
        "Email address",
        rx.text("Current: ", ProfileState.email, size="2"),
        rx.match(
            ProfileState.email_gate,
            (
                email_change.STAFF_ACTING_GATE,
                rx.callout(
                    "You are acting for this customer: only they can change their email "
                    "address or sign-in settings.",
                    icon="lock",
                    color_scheme="gray",
                    data_testid="email-locked",
                ),
            ),
            (email_change.REAUTH_GATE, _reauth()),
            _email_form(),
        ),
        heading_size="3",
        spacing="2",
    )


def profile_page() -> rx.Component:
    return stacked_page(
        "Profile",
        None,
        ProfileState.loaded,
        form_stack(
            ui.card_stack(
                _text(
                    "name",
                    "Name",
                    ProfileState.name,
                    ProfileState.editable["name"],
                    auto_complete="name",
                ),
                spacing="2",
            ),
            _address(
                "billing",
                "Billing address",
                ProfileState.billing,
                ProfileState.editable["billing_address"],
            ),
            _address(
                "shipping",
                "Shipping address",
                ProfileState.shipping,
                ProfileState.editable["shipping_address"],
            ),
            rx.cond(
                ProfileState.editable["custom_fields"] & (ProfileState.fields.length() > 0),
                ui.section_card(
                    "More about you",
                    rx.foreach(ProfileState.fields, _custom_field),
                    heading_size="3",
                ),
            ),
            ui.error_callout(ProfileState.error, testid="profile-error"),
            rx.button("Save profile", type="submit", size="3", data_testid="save-profile"),
            on_submit=ProfileState.save,
            key=ProfileState.form_version,
            width="100%",
        ),
        rx.cond(ProfileState.editable["email"], _email_card()),
        spacing="4",
    )
