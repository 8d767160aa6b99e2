"""The page fragments every screen shares: loading, empty, error and notice states, tables,
status badges, section cards and the merchant page layout. Each reproduces the markup of the
copies it replaces (test ids, aria attributes and texts are arguments), so a page uses one call
where it wrote the fragment out."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import reflex as rx

from portal_app.components.merchant_header import merchant_header, role_badge, role_label
from portal_app.components.shell import page_shell

# The dashboard header's pieces live in components.merchant_header; the kit re-exports them
# so a page needs one import.
__all__ = [
    "card_stack",
    "confirm_panel",
    "data_table",
    "empty_state",
    "error_callout",
    "error_text",
    "flag_badge",
    "foreach_or_empty",
    "labelled_badge",
    "loading",
    "loading_or_error",
    "merchant_header",
    "merchant_page",
    "message_callout",
    "optional_text",
    "restricted_page",
    "role_badge",
    "role_label",
    "row_action",
    "row_actions",
    "row_card",
    "secondary_button",
    "section_card",
    "status_badge",
]

# A table column: (heading, key) or (heading, key, data-testid of its cells).
Column = tuple[str, str] | tuple[str, str, str | None]


def _props(**props) -> dict:
    """Only the props that are set: a None leaves the prop out of the markup."""
    return {name: value for name, value in props.items() if value is not None}


# --- loading ---------------------------------------------------------------------------------


def loading(
    *,
    label: str | None = "Loading",
    padding: str = "3rem",
    skeletons: int = 0,
    skeleton_height: str = "12rem",
) -> rx.Component:
    """A centred spinner (`aria-label` = `label`; None: no label), or with `skeletons=n` a
    responsive grid of n card-sized skeletons (the public price list)."""
    if skeletons:
        return rx.grid(
            *[rx.skeleton(rx.box(height=skeleton_height), loading=True) for _ in range(skeletons)],
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="4",
            width="100%",
        )
    return rx.center(rx.spinner(size="3"), **_props(padding=padding, aria_label=label))


def loading_or_error(error: rx.Var) -> rx.Component:
    """Until a state's first load: the spinner, or its `error` (a red callout) once it failed."""
    return rx.cond(error != "", error_callout(error, when_set=False), loading())


def when_loaded(
    loaded: rx.Var,
    *children: rx.Component,
    spacing: str = "4",
    otherwise: rx.Component | None = None,
) -> rx.Component:
    """The children in a full-width stack once `loaded`; until then `otherwise` (default: the
    spinner)."""
    return rx.cond(
        loaded,
        rx.vstack(*children, spacing=spacing, width="100%"),
        loading() if otherwise is None else otherwise,
    )


# --- empty and error states ---------------------------------------------------------------------


def foreach_or_empty(items: rx.Var, render: Callable, empty: rx.Component) -> rx.Component:
    """`render(item)` for each of `items` (cards, messages), or `empty` while there are none."""
    return rx.cond(items.length() > 0, rx.foreach(items, render), empty)


def empty_state(
    content: str | rx.Var | rx.Component,
    *,
    testid: str | None = None,
    plain: bool = False,
    icon: str = "info",
    width: str | None = "100%",
) -> rx.Component:
    """What a list or chart shows when it has nothing: a grey callout (`icon`), or `plain` a
    small grey line of text. `content` may be a component (text with a code span)."""
    if plain:
        return rx.text(content, size="2", color_scheme="gray", **_props(data_testid=testid))
    return rx.callout(
        content, icon=icon, color_scheme="gray", **_props(width=width, data_testid=testid)
    )


def error_callout(
    message: str | rx.Var,
    *,
    testid: str | None = None,
    width: str | None = None,
    icon: str | None = "triangle-alert",
    role: str | None = "alert",
    when_set: bool = True,
) -> rx.Component:
    """A red callout announced to screen readers (`role="alert"`), shown only while
    `message` is not "" (`when_set=False`: always, for a branch of your own `rx.cond`).
    `icon=None` / `role=None` leave those props out (the copies that had none)."""
    callout = rx.callout(
        message,
        color_scheme="red",
        **_props(icon=icon, role=role, width=width, data_testid=testid),
    )
    return rx.cond(message != "", callout) if when_set else callout


def message_callout(
    message: str | rx.Var,
    *,
    icon: str,
    color: str | None = None,
    role: str | None = None,
    testid: str | None = None,
) -> rx.Component:
    """A callout shown only while `message` is not "" (a notice, a "link sent", a warning):
    `color` its colour scheme (default: the accent), `role="status"` to announce it."""
    return rx.cond(
        message != "",
        rx.callout(message, icon=icon, **_props(color_scheme=color, role=role, data_testid=testid)),
    )


def optional_text(value: rx.Var, **text_props) -> rx.Component:
    """`value` as a line of text (`text_props` as for `rx.text`), only while it is not ""
    (a plan's description, a delivery error)."""
    return rx.cond(value != "", rx.text(value, **text_props))


def error_text(message: rx.Var, *, testid: str | None = None) -> rx.Component:
    """A dialog's inline error line (red text, `role="alert"`), shown while it is not ""."""
    return rx.cond(
        message != "",
        rx.text(message, color_scheme="red", role="alert", **_props(data_testid=testid)),
    )


# --- badges ------------------------------------------------------------------------------------


def status_badge(
    status: rx.Var, colors: Mapping[str, str], *, default: str | None = None
) -> rx.Component:
    """A badge that shows `status` itself, coloured by `colors` (status -> colour scheme).
    With `default` (a colour): one badge whose colour is matched (customer invoices); without:
    one badge per known status and a plain badge for the rest (staff money views)."""
    if default is not None:
        return rx.badge(status, color_scheme=rx.match(status, *colors.items(), default))
    return rx.match(
        status,
        *[(name, rx.badge(name, color_scheme=color)) for name, color in colors.items()],
        rx.badge(status),
    )


def labelled_badge(
    value: rx.Var, cases: Mapping[str, tuple[str, str]], default: tuple[str, str]
) -> rx.Component:
    """A badge with a label per value: `cases` value -> (label, colour), `default` for the
    rest (a staff member's Active / Disabled / Invited)."""
    return rx.match(
        value,
        *[(key, rx.badge(label, color_scheme=color)) for key, (label, color) in cases.items()],
        rx.badge(default[0], color_scheme=default[1]),
    )


def flag_badge(
    flag: rx.Var, on: str, off: str, *, on_color: str = "green", off_color: str = "gray"
) -> rx.Component:
    """`on` while `flag == "yes"`, else `off` (catalog: On sale / Archived, On / Off)."""
    return rx.cond(
        flag == "yes",
        rx.badge(on, color_scheme=on_color),
        rx.badge(off, color_scheme=off_color),
    )


# --- tables ------------------------------------------------------------------------------------


def _header_cell(heading: str | rx.Component) -> rx.Component:
    return heading if isinstance(heading, rx.Component) else rx.table.column_header_cell(heading)


def _column_row(columns: Sequence[Column], row_header: bool, row_testid: str | None):
    def render(row: rx.Var) -> rx.Component:
        cells = []
        for index, column in enumerate(columns):
            key = column[1]
            testid = column[2] if len(column) > 2 else None
            cell = rx.table.row_header_cell if row_header and index == 0 else rx.table.cell
            cells.append(cell(row[key], **_props(data_testid=testid)))
        return rx.table.row(*cells, **_props(data_testid=row_testid))

    return render


def data_table(
    headers: Sequence[str | rx.Component] | None = None,
    *,
    columns: Sequence[Column] | None = None,
    rows: rx.Var | None = None,
    render: Callable[[rx.Var], rx.Component] | None = None,
    body: rx.Component | None = None,
    row_header: bool = False,
    row_testid: str | None = None,
    min_width: str | None = None,
    size: str | None = "1",
    scroll: bool = True,
    testid: str | None = None,
    empty: rx.Component | None = None,
) -> rx.Component:
    """A small full-width table.

    Headings: `headers` (texts, or ready header cells), or the headings of `columns`.
    Rows, one of: `columns` [(heading, key[, cell testid])] with `rows` (a cell per key;
    `row_header=True`: the first is the row's header cell; `row_testid` on each row), or
    `rows` + `render(row)` (a `rx.table.row`), or a ready `body` (the table body's children).
    `scroll` (default): inside a box that scrolls sideways on a phone (`testid` on that box);
    `min_width` on the table; `size=None`: the default (larger) table. `empty`: shown instead
    while `rows` is empty."""
    if headers is None:
        if columns is None:
            raise ValueError("data_table needs headers or columns")
        headers = [column[0] for column in columns]
    if body is None:
        if rows is None:
            raise ValueError("data_table needs rows (with columns or render) or a body")
        if render is None:
            if columns is None:
                raise ValueError("data_table needs columns or render for its rows")
            render = _column_row(columns, row_header, row_testid)
        body = rx.foreach(rows, render)
    table = rx.table.root(
        rx.table.header(rx.table.row(*[_header_cell(h) for h in headers])),
        rx.table.body(body),
        width="100%",
        **_props(size=size, min_width=min_width),
    )
    if scroll:
        table = rx.box(table, overflow_x="auto", width="100%", **_props(data_testid=testid))
    if empty is not None:
        if rows is None:
            raise ValueError("data_table: `empty` needs `rows` to know when it is empty")
        return rx.cond(rows.length() > 0, table, empty)
    return table


# --- section cards -----------------------------------------------------------------------------


def section_card(
    title: str | rx.Var,
    *children: rx.Component,
    description: str | rx.Var | None = None,
    testid: str | None = None,
    heading_size: str = "4",
    spacing: str = "3",
    body_spacing: str | None = None,
    empty_when: rx.Var | None = None,
    empty_text: str = "",
) -> rx.Component:
    """A full-width card: an h2 `title`, an optional grey `description`, the children.
    `body_spacing`: the children in their own stack with that spacing (the customer overview);
    `empty_when` (a Var): instead of the children, `empty_text` in small grey text."""
    body = list(children)
    if body_spacing is not None or empty_when is not None:
        stacked = rx.vstack(*children, spacing=body_spacing or "2", width="100%")
        if empty_when is not None:
            stacked = rx.cond(
                empty_when, rx.text(empty_text, color_scheme="gray", size="2"), stacked
            )
        body = [stacked]
    head = [rx.heading(title, size=heading_size, as_="h2")]
    if description is not None:
        head.append(rx.text(description, size="2", color_scheme="gray"))
    return card_stack(*head, *body, spacing=spacing, testid=testid)


def card_stack(
    *children: rx.Component,
    spacing: str = "3",
    testid: str | None = None,
    max_width: str | None = None,
) -> rx.Component:
    """A full-width card whose children stack full-width, `spacing` apart (a section without
    a plain h2 title; `section_card` adds one)."""
    return rx.card(
        rx.vstack(*children, spacing=spacing, width="100%"),
        width="100%",
        **_props(max_width=max_width, data_testid=testid),
    )


def row_card(start: rx.Component, end: rx.Component, *, testid: str | None = None) -> rx.Component:
    """A full-width card for one item of a list: what it is at the start, what can be done
    with it at the end, wrapping under each other on a phone (a saved card, a download)."""
    return rx.card(
        rx.flex(
            start, end, justify="between", align="center", wrap="wrap", spacing="3", width="100%"
        ),
        width="100%",
        **_props(data_testid=testid),
    )


# --- the merchant dashboard's pages -------------------------------------------------------------


def merchant_page(
    title: str | rx.Var,
    *children: rx.Component,
    subtitle: str | rx.Var | None = None,
    spacing: str = "4",
) -> rx.Component:
    """A dashboard page: the shell (its top bar says `subtitle`, default the title), then the
    header (section links, h1 `title`, role, sign-out) and the children, `spacing` apart."""
    return page_shell(
        rx.vstack(merchant_header(title), *children, spacing=spacing, width="100%"),
        subtitle=title if subtitle is None else subtitle,
    )


def restricted_page(
    title: str, access: rx.Var, body: rx.Component, *, role: str, denied: str, testid: str
) -> rx.Component:
    """A dashboard page only some roles use (API keys, webhooks, staff, import): the `body`
    while `access` is `role`, a locked note `denied` (`data-testid` `testid`) while it is
    "denied", a spinner until the state knows."""
    return merchant_page(
        title,
        rx.match(
            access,
            ("denied", rx.callout(denied, icon="lock", data_testid=testid)),
            (role, body),
            loading(),
        ),
    )


# --- row actions -------------------------------------------------------------------------------


def row_action(
    label: str,
    on_click=None,
    *,
    color: str | None = None,
    aria_label: str | rx.Var | None = None,
    testid: str | None = None,
    button_type: str | None = None,
    icon: str | None = None,
) -> rx.Component:
    """A small soft button in a table row or a list ("Edit", "Archive"): `color` its colour
    scheme (default: the accent), `aria_label` to name the row it acts on, `icon` before the
    label ("file-down" for a PDF); no `on_click` when a link around it does the work."""
    return rx.button(
        *([] if icon is None else [rx.icon(icon, size=14)]),
        label,
        size="1",
        variant="soft",
        on_click=on_click,
        **_props(color_scheme=color, type=button_type, aria_label=aria_label, data_testid=testid),
    )


# --- buttons -----------------------------------------------------------------------------------


def secondary_button(label: str | rx.Var, **props) -> rx.Component:
    """A soft grey button that backs out (Cancel, Close, Clear); `props` as for `rx.button`."""
    return rx.button(label, variant="soft", color_scheme="gray", **props)


def confirm_panel(
    *children: rx.Component,
    confirm: str,
    on_confirm,
    testid: str,
    on_cancel,
    cancel: str = "Cancel",
) -> rx.Component:
    """What an action will change (a preset's diff, a plan change's preview), then its
    `confirm` button (`data-testid` `testid`) and a `cancel` button that backs out."""
    return rx.vstack(
        *children,
        rx.hstack(
            rx.button(confirm, on_click=on_confirm, data_testid=testid),
            secondary_button(cancel, on_click=on_cancel),
        ),
        width="100%",
        spacing="3",
    )


# --- dialogs -----------------------------------------------------------------------------------


def dialog_actions(
    *buttons: rx.Component, spacing: str | None = None, wrap: str | None = None
) -> rx.Component:
    """A dialog's buttons, right-aligned under its content (Cancel, then the action)."""
    return rx.flex(*buttons, justify="end", margin_top="1rem", **_props(spacing=spacing, wrap=wrap))


def row_actions(*buttons: rx.Component, when: rx.Var | None = None) -> rx.Component:
    """A row's `row_action` buttons side by side (wrapping on a phone); with `when`, shown
    only while it holds (`staff_can("admin")`)."""
    actions = rx.flex(*buttons, spacing="2", wrap="wrap")
    return actions if when is None else rx.cond(when, actions)
