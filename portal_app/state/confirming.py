"""Asking before a destructive action (archive, turn off, restore): the question the dialog
shows, what it is about (kept on the server: the browser only answers yes or no), and closing it.
A state mixes `Confirming` in, declares its own guarded handler for "yes", and takes the two that
back out from the factories here (each under the state's own guard, as `paging.go_to_page`):

    keep_it = confirming.backs_out("staff", staff_role="viewer")  # the name the event is sent as
    confirm_visibility = confirming.escape_backs_out("staff", staff_role="viewer")"""

from __future__ import annotations

import reflex as rx

from portal_app.state.guard import guarded


class Confirming(rx.State, mixin=True):
    confirm_kind: str = ""  # "" while nothing is asked; else what the question is about
    confirm_title: str = ""
    confirm_text: str = ""
    _confirm_id: int = 0

    def _ask(self, kind: str, item: int, title: str, text: str) -> None:
        self.confirm_kind, self._confirm_id = kind, item
        self.confirm_title, self.confirm_text = title, text

    def _close_confirm(self) -> None:
        self.confirm_kind, self.confirm_title, self.confirm_text, self._confirm_id = "", "", "", 0

    def _closed_on(self, is_open: bool) -> None:
        """The dialog's open-change: Escape or a click outside answers "keep it"."""
        if is_open is not True:
            self._close_confirm()


def backs_out(role: str, feature: str | None = None, *, staff_role: str | None = None):
    """The "keep it" button's handler: the question closes, nothing happens."""

    def keep_it(self):
        self._close_confirm()

    keep_it.__qualname__ = "Confirming.keep_it"
    return rx.event(guarded(role, feature, staff_role=staff_role)(keep_it))


def escape_backs_out(role: str, feature: str | None = None, *, staff_role: str | None = None):
    """The dialog's open-change handler: Escape or a click outside answers "keep it"."""

    def confirm_visibility(self, is_open: bool):
        self._closed_on(is_open)

    confirm_visibility.__qualname__ = "Confirming.confirm_visibility"
    return rx.event(guarded(role, feature, staff_role=staff_role)(confirm_visibility))
