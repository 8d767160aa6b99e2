"""Asking before a destructive action (archive, turn off): the question the dialog shows, what it
is about (kept on the server: the browser only answers yes or no), and closing it. A state mixes
`Confirming` in and declares its own guarded handlers for the answers."""

from __future__ import annotations

import reflex as rx


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
