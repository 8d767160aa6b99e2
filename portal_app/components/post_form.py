"""A plain HTML form that the browser submits itself. Reflex's rx.form/rx.el.form cancel the
native submit (they route it to an event handler), but signing in and out must be a real POST:
only an HTTP response can set or clear the HttpOnly session cookie."""

from __future__ import annotations

import reflex as rx
from reflex_components_core.el.elements.base import BaseHTML


class PostForm(BaseHTML):
    tag = "form"
    action: rx.Var[str]
    method: rx.Var[str]


def post_form(*children: rx.Component, action: str, **props) -> rx.Component:
    return PostForm.create(*children, action=action, method="post", **props)
