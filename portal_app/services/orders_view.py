"""What the customer's Orders page shows: one page of their orders as display rows (number,
date, items, total, status, tracking, the invoice and its receipt, whether Downloads has what
the order granted). `orders.list_for_customer` checks the `orders.view` toggle."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, select

from portal_app import formatting, routes
from portal_app.clock import Clock
from portal_app.models import Invoice, Order, OrderItem, Receipt
from portal_app.money import format_money
from portal_app.services import digital, features, invoices, orders
from portal_app.services.paging import Page

STATUS_LABELS = {"paid": "Paid", "fulfilled": "Fulfilled", "refunded": "Refunded"}


@dataclass
class OrderRow:
    id: str = ""
    number: str = ""  # ORD-000123
    date: str = ""
    lines: list[str] = field(default_factory=list)  # item_label: "2 (times) Sticker pack"
    total: str = ""
    discount: str = ""  # "" without a discount
    status: str = ""  # paid | fulfilled | refunded
    status_label: str = ""
    tracking: str = ""
    invoice_id: str = ""  # "" when the order has no invoice
    invoice_number: str = ""
    invoice_href: str = ""
    receipt_id: str = ""  # "" when nothing was charged
    downloads: str = ""  # "yes" when Downloads holds what the order granted


TIMES = "\u00d7"  # the multiplication sign


def item_label(item: OrderItem) -> str:
    """Quantity, times sign, what was bought: "2 \u00d7 Sticker pack"."""
    return f"{item.quantity} {TIMES} {item.description}"


def orders_page(session: Session, clock: Clock, *, customer_id: int, page: int) -> Page:
    """Rows: `OrderRow`, newest first; `page` clamped."""
    found = orders.list_for_customer(session, customer_id, page=page)
    shown: list[Order] = found.rows
    ids = [order.id for order in shown]
    items = orders.items_of(session, ids)
    invoice_ids = [order.invoice_id for order in shown if order.invoice_id is not None]
    numbers = _invoice_numbers(session, invoice_ids)
    receipts = _first_receipts(session, invoice_ids)
    granting = set()
    if shown and _downloads_shown(session, shown[0].merchant_id):
        granting = digital.granted_by_orders(session, ids)
    rows = [
        _row(order, items[order.id], numbers, receipts, order.id in granting) for order in shown
    ]
    return Page(rows, found.total, found.page, found.pages)


def _row(
    order: Order,
    items: list[OrderItem],
    numbers: dict[int, str],
    receipts: dict[int, int],
    grants: bool,
) -> OrderRow:
    invoice_id = order.invoice_id
    return OrderRow(
        id=str(order.id),
        number=orders.display_number(order),
        date=formatting.date(order.paid_at or order.created_at),
        lines=[item_label(item) for item in items],
        total=format_money(order.total, order.currency),
        discount=format_money(-order.discount, order.currency) if order.discount else "",
        status=order.status,
        status_label=STATUS_LABELS.get(order.status, order.status),
        tracking=order.tracking_reference,
        invoice_id=str(invoice_id) if invoice_id in numbers else "",
        invoice_number=numbers.get(invoice_id, ""),
        invoice_href=routes.invoice(invoice_id) if invoice_id in numbers else "",
        receipt_id=str(receipts[invoice_id]) if invoice_id in receipts else "",
        downloads="yes" if grants and order.status in orders.GRANTING else "",
    )


def _invoice_numbers(session: Session, invoice_ids: list[int]) -> dict[int, str]:
    if not invoice_ids:
        return {}
    found = session.exec(
        select(Invoice.id, Invoice.number).where(Invoice.id.in_(invoice_ids))
    ).all()
    return {invoice_id: invoices.number_label(invoice_id, number) for invoice_id, number in found}


def _first_receipts(session: Session, invoice_ids: list[int]) -> dict[int, int]:
    """The (first) receipt of each invoice that has one."""
    if not invoice_ids:
        return {}
    found: dict[int, int] = {}
    for receipt_id, invoice_id in session.exec(
        select(Receipt.id, Receipt.invoice_id)
        .where(Receipt.invoice_id.in_(invoice_ids))
        .order_by(Receipt.id)
    ):
        found.setdefault(invoice_id, receipt_id)
    return found


def _downloads_shown(session: Session, merchant_id: int) -> bool:
    """Whether the portal shows Downloads at all (any digital toggle on)."""
    settings = features.load(session, merchant_id)
    return any(settings.enabled(key) for key in digital.PORTAL_FEATURES)
