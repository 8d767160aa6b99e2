"""Customer pages: profile and email notification preferences."""

from __future__ import annotations

import reflex as rx

from portal_app.components.portal_layout import loaded_page
from portal_app.state.notifications import PreferencesState


def notifications_page() -> rx.Component:
    return loaded_page(
        "Notifications",
        "notifications.manage",
        PreferencesState.loaded,
        rx.card(
            rx.form(
                rx.vstack(
                    rx.text("Choose which emails you get from us.", size="2"),
                    rx.foreach(
                        PreferencesState.options,
                        lambda o: rx.el.label(
                            rx.hstack(
                                rx.el.input(
                                    type="checkbox",
                                    name=o.key,
                                    default_checked=o.on,
                                    style={"width": "18px", "height": "18px"},
                                ),
                                rx.text(o.label),
                                align="center",
                                spacing="2",
                            ),
                            data_testid="preference",
                        ),
                    ),
                    rx.button("Save preferences", type="submit", data_testid="save-preferences"),
                    spacing="3",
                ),
                on_submit=PreferencesState.save,
                key=PreferencesState.form_version,
            ),
            width="100%",
        ),
    )
