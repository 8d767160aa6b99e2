"""Merchant dashboard → Analytics: MRR, new vs churned, cancellation reasons, the retention funnel
with its save rate, pauses and resumes. Every chart has its figures next to it as a table, so the
numbers can be read without the chart (screen readers, tests); each section says when it has no
data yet."""

from __future__ import annotations

import reflex as rx

from portal_app.components import ui
from portal_app.state.merchant_analytics import MerchantAnalyticsState as Analytics

CHART_HEIGHT = 260
LINE_COLOURS = ["var(--accent-9)", "var(--orange-9)", "var(--grass-9)", "var(--plum-9)"]
NEW_COLOUR, CHURN_COLOUR = "var(--grass-9)", "var(--red-9)"
PAUSE_COLOUR, RESUME_COLOUR = "var(--amber-9)", "var(--blue-9)"
FLOW_COLOUR = "var(--accent-9)"
AXIS_FONT = {"fontSize": 12}
LABEL_WIDTH = 130  # px for stage and reason names beside horizontal bars
CHART_MARGIN = {"top": 8, "right": 12, "left": 0, "bottom": 0}


def _section(
    key: str,
    title: str,
    description: str,
    shown: rx.Var,
    chart: rx.Component,
    table: rx.Component,
    empty: str,
) -> rx.Component:
    """Card `section-<key>`: while `shown`, the chart beside its figures; else the `empty`
    note (`empty-<key>`)."""
    return ui.section_card(
        title,
        rx.cond(
            shown,
            _chart_and_table(chart, table),
            ui.empty_state(empty, testid=f"empty-{key}"),
        ),
        description=description,
        testid=f"section-{key}",
    )


def _table(rows: rx.Var, columns: list[tuple[str, str, str]], row_testid: str) -> rx.Component:
    """One row per item; `columns` are (heading, key, data-testid), the first heads the row."""
    return ui.data_table(
        columns=columns, rows=rows, row_header=True, row_testid=row_testid, scroll=False
    )


def _chart_and_table(chart: rx.Component, table: rx.Component) -> rx.Component:
    """Side by side on wide screens, the table under the chart on narrow ones."""
    return rx.grid(
        rx.box(chart, width="100%", min_width="0", aria_hidden="true"),
        rx.box(table, width="100%", min_width="0", overflow_x="auto"),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="4",
        width="100%",
    )


def _bar_chart(
    rows: rx.Var, category_key: str, bars: list[tuple[str, str, str]], *, vertical: bool = False
) -> rx.Component:
    """Bars (key, name, colour) per category: months along the bottom, or, `vertical`, labels
    down the side (stages, reasons)."""
    legend = [rx.recharts.legend()] if len(bars) > 1 else []
    return rx.recharts.bar_chart(
        _grid(),
        *_axes(category_key, vertical=vertical),
        *[
            rx.recharts.bar(data_key=key, name=name, fill=colour, is_animation_active=False)
            for key, name, colour in bars
        ],
        rx.recharts.graphing_tooltip(),
        *legend,
        data=rows,
        layout="vertical" if vertical else "horizontal",
        height=CHART_HEIGHT,
        margin=CHART_MARGIN,
    )


def _axes(category_key: str, *, vertical: bool = False) -> list:
    """Month (or stage) on the category axis, whole numbers on the value axis."""
    if vertical:
        return [
            rx.recharts.x_axis(type_="number", allow_decimals=False, tick=AXIS_FONT),
            rx.recharts.y_axis(
                data_key=category_key, type_="category", width=LABEL_WIDTH, tick=AXIS_FONT
            ),
        ]
    return [
        rx.recharts.x_axis(data_key=category_key, tick=AXIS_FONT, min_tick_gap=8),
        rx.recharts.y_axis(allow_decimals=False, tick=AXIS_FONT, width=56),
    ]


def _grid() -> rx.Component:
    return rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="var(--gray-a5)")


# --- sections -----------------------------------------------------------------------------------


def _summary() -> rx.Component:
    def figure(label: str, value, testid: str, note=None) -> rx.Component:
        return rx.card(
            rx.vstack(
                rx.text(label, size="2", color_scheme="gray"),
                rx.heading(value, size="6", data_testid=testid),
                *([rx.text(note, size="1", color_scheme="gray")] if note is not None else []),
                spacing="1",
            ),
            flex="1",
            min_width="9.5rem",
        )

    return rx.flex(
        rx.foreach(
            Analytics.mrr_now,
            lambda now: figure(
                "MRR now (" + now["currency"] + ")",
                now["amount"],
                "summary-mrr",
                now["subscriptions"] + " subscriptions",
            ),
        ),
        figure("New this month", Analytics.new_this_month, "summary-new"),
        figure("Churned this month", Analytics.churned_this_month, "summary-churned"),
        figure(
            "Save rate",
            Analytics.save_rate,
            "summary-save-rate",
            Analytics.saved.to(str) + " saved of " + Analytics.decided.to(str) + " decided",
        ),
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def _mrr() -> rx.Component:
    chart = rx.recharts.line_chart(
        rx.foreach(
            Analytics.currencies,
            lambda currency, index: rx.recharts.line(
                data_key=currency,
                name=currency,
                stroke=rx.Var.create(LINE_COLOURS)[index % len(LINE_COLOURS)],
                stroke_width=2,
                type_="linear",
                is_animation_active=False,
            ),
        ),
        _grid(),
        *_axes("month"),
        rx.recharts.graphing_tooltip(),
        data=Analytics.mrr_chart,
        height=CHART_HEIGHT,
        margin=CHART_MARGIN,
    )
    table = ui.data_table(
        [
            rx.table.column_header_cell("Month"),
            rx.foreach(
                Analytics.currencies,
                lambda currency: rx.fragment(
                    rx.table.column_header_cell("MRR (" + currency + ")"),
                    rx.table.column_header_cell("Subscriptions"),
                ),
            ),
        ],
        body=rx.foreach(
            Analytics.mrr_table,
            lambda row: rx.table.row(
                rx.table.row_header_cell(row["month"]),
                rx.foreach(
                    Analytics.currencies,
                    lambda currency: rx.fragment(
                        rx.table.cell(row[currency], data_testid="mrr-amount"),
                        rx.table.cell(
                            row[currency + "_subscriptions"], data_testid="mrr-subscriptions"
                        ),
                    ),
                ),
                data_testid="mrr-row",
            ),
        ),
        scroll=False,
    )
    return _section(
        "mrr",
        "Monthly recurring revenue",
        "At the end of each month (this month: now). Active and past-due subscriptions at their "
        "list price; annual prices count one twelfth. Paused and cancelled ones are left out.",
        Analytics.currencies.length() > 0,
        chart,
        table,
        "No recurring revenue in these months yet.",
    )


def _monthly_section(
    key: str,
    title: str,
    description: str,
    shown: rx.Var,
    rows: rx.Var,
    bars: list[tuple[str, str, str]],
    columns: list[tuple[str, str, str]],
    row_testid: str,
    empty: str,
) -> rx.Component:
    """A `_section` with a bar chart per month (bars: key, name, colour) and its table
    (columns: heading, key, cell test id, the month first)."""
    return _section(
        key,
        title,
        description,
        shown,
        _bar_chart(rows, "month", bars),
        _table(rows, columns, row_testid),
        empty,
    )


def _movements() -> rx.Component:
    return _monthly_section(
        "movements",
        "New vs churned subscriptions",
        "New: subscriptions started in the month. Churned: subscriptions that ended in the "
        "month (cancelled now, at period end, or after failed payments).",
        Analytics.has_movements,
        Analytics.movements,
        [("new", "New", NEW_COLOUR), ("churned", "Churned", CHURN_COLOUR)],
        [
            ("Month", "month", "movement-month"),
            ("New", "new", "movement-new"),
            ("Churned", "churned", "movement-churned"),
        ],
        "movement-row",
        "No subscriptions started or ended in these months.",
    )


def _reasons() -> rx.Component:
    chart = _bar_chart(
        Analytics.reasons, "reason", [("flows", "Flows", FLOW_COLOUR)], vertical=True
    )
    table = _table(
        Analytics.reasons,
        [
            ("Reason", "reason", "reason-name"),
            ("Flows", "flows", "reason-flows"),
            ("Cancelled", "canceled", "reason-canceled"),
            ("Saved", "saved", "reason-saved"),
            ("Rate", "rate", "reason-rate"),
        ],
        "reason-row",
    )
    return _section(
        "reasons",
        "Cancellation reasons",
        "What customers answered in the cancellation survey, in flows started in these months.",
        Analytics.reasons.length() > 0,
        chart,
        table,
        "No one has started the cancellation flow in these months.",
    )


def _funnel() -> rx.Component:
    chart = _bar_chart(Analytics.funnel, "stage", [("count", "Flows", FLOW_COLOUR)], vertical=True)
    figures = rx.vstack(
        rx.hstack(
            rx.text("Save rate", weight="medium"),
            rx.heading(Analytics.save_rate, size="7", data_testid="save-rate"),
            align="baseline",
            spacing="3",
        ),
        rx.text(
            "Saved ÷ (saved + cancelled): ",
            Analytics.saved,
            " of ",
            Analytics.decided,
            ". Flows left without deciding are not in the rate.",
            size="2",
            color_scheme="gray",
        ),
        _table(
            Analytics.funnel,
            [("Stage", "stage", "funnel-stage"), ("Flows", "count", "funnel-count")],
            "funnel-row",
        ),
        _table(
            Analytics.offers,
            [("Accepted offer", "offer", "offer-name"), ("Flows", "count", "offer-count")],
            "offer-row",
        ),
        spacing="3",
        width="100%",
    )
    return _section(
        "funnel",
        "Retention flow",
        "Cancellation flows started in these months: how many answered the survey, were shown "
        "a save offer (discount, pause or cheaper plan), accepted one, cancelled, or left "
        "keeping their plan.",
        Analytics.flows_started > 0,
        chart,
        figures,
        "No one has started the cancellation flow in these months.",
    )


def _checkout() -> rx.Component:
    chart = _bar_chart(
        Analytics.checkout_funnel, "stage", [("count", "Checkouts", FLOW_COLOUR)], vertical=True
    )
    figures = rx.vstack(
        rx.text(
            "Paid: ",
            Analytics.checkout_paid_rate,
            " of checkouts opened. Trials converted: ",
            Analytics.trial_conversion_rate,
            " of trials that ended.",
            size="2",
            color_scheme="gray",
            data_testid="checkout-rates",
        ),
        _table(
            Analytics.checkout_funnel,
            [("Stage", "stage", "checkout-stage"), ("Checkouts", "count", "checkout-count")],
            "checkout-funnel-row",
        ),
        _table(
            Analytics.trial_funnel,
            [("Trials", "stage", "trial-stage"), ("Count", "count", "trial-count")],
            "trial-funnel-row",
        ),
        rx.cond(
            Analytics.coupons.length() > 0,
            _table(
                Analytics.coupons,
                [("Coupon", "coupon", "coupon-name"), ("Redemptions", "count", "coupon-count")],
                "coupon-row",
            ),
            ui.empty_state("No coupon redeemed in these months.", plain=True),
        ),
        spacing="3",
        width="100%",
    )
    return _section(
        "checkout",
        "Checkout",
        "Checkout sessions opened in these months: how many gave an email and paid; trials "
        "started in these months and how many became paid (a paid invoice after the trial); "
        "coupon redemptions.",
        (Analytics.checkouts_opened > 0)
        | (Analytics.trials_started > 0)
        | (Analytics.redemptions > 0),
        chart,
        figures,
        "No checkouts, trials or coupon redemptions in these months.",
    )


def _pauses() -> rx.Component:
    return _monthly_section(
        "pauses",
        "Pauses and resumes",
        "Subscriptions paused, and resumed (by the customer or on their resume date), per month.",
        Analytics.has_pauses,
        Analytics.pauses,
        [("pauses", "Pauses", PAUSE_COLOUR), ("resumes", "Resumes", RESUME_COLOUR)],
        [
            ("Month", "month", "pause-month"),
            ("Pauses", "pauses", "pause-count"),
            ("Resumes", "resumes", "resume-count"),
        ],
        "pause-row",
        "No pauses or resumes in these months.",
    )


def analytics_page() -> rx.Component:
    return ui.merchant_page(
        "Analytics",
        rx.cond(
            Analytics.loaded,
            rx.cond(
                Analytics.error != "",
                ui.error_callout(
                    Analytics.error, width="100%", testid="analytics-error", when_set=False
                ),
                rx.vstack(
                    rx.flex(
                        rx.text(
                            Analytics.period,
                            " · as of ",
                            Analytics.as_of,
                            size="2",
                            color_scheme="gray",
                            data_testid="analytics-period",
                        ),
                        ui.row_action("Refresh", Analytics.load, icon="refresh-cw"),
                        justify="between",
                        align="center",
                        wrap="wrap",
                        spacing="2",
                        width="100%",
                    ),
                    _summary(),
                    _mrr(),
                    _movements(),
                    _reasons(),
                    _funnel(),
                    _checkout(),
                    _pauses(),
                    spacing="4",
                    width="100%",
                ),
            ),
            ui.loading(),
        ),
    )
