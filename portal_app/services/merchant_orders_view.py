"""Staff → Orders, read for the screen: one page of the merchant's orders (a status or all,
newest first) and one order with its items, customer, shipping address and what can be done
with it next."""

from __future__ import annotations

from typing import TypedDict

from sqlmodel import Session, select

from portal_app import formatting
from portal_app.clock import Clock
from portal_app.models import Customer, Invoice, Order, OrderStatus
from portal_app.money import format_money
from portal_app.services import bill_to, invoices, orders
from portal_app.services.orders_view import STATUS_LABELS, item_label
from portal_app.services.paging import Page


class OrderListRow(TypedDict):
    id: str
    number: str
    when: str
    customer_id: str
    customer: str  # the name, else the email
    email: str
    items: str  # the item labels (orders_view.item_label), comma-separated
    total: str
    status: str
    tracking: str


class OrderItemLine(TypedDict):
    description: str
    quantity: str
    unit: str
    amount: str


class OrderDetailView(TypedDict, total=False):  # {} while no order is open
    id: str
    number: str
    status: str
    status_label: str
    created: str
    paid: str
    fulfilled: str
    refunded: str
    customer_id: str
    customer: str
    email: str
    items: list[OrderItemLine]
    subtotal: str
    discount: str  # "" without a discount
    total: str
    shipping: list[str]  # the address lines; [] when nothing ships
    tracking: str
    invoice: str  # its number, "" without one
    can_fulfil: str  # "yes" while paid
    can_refund: str  # "yes" while paid or fulfilled


def _customers(session: Session, ids: set[int]) -> dict[int, Customer]:
    if not ids:
        return {}
    return {c.id: c for c in session.exec(select(Customer).where(Customer.id.in_(ids)))}


def orders_page(
    session: Session, clock: Clock, *, merchant_id: int, status: str, page: int
) -> Page:
    """Rows: `OrderListRow`."""
    found = orders.list_for_merchant(session, merchant_id, status=status, page=page)
    shown: list[Order] = found.rows
    items = orders.items_of(session, [order.id for order in shown])
    people = _customers(session, {order.customer_id for order in shown})
    rows: list[OrderListRow] = []
    for order in shown:
        customer = people.get(order.customer_id)
        rows.append(
            {
                "id": str(order.id),
                "number": orders.display_number(order),
                "when": formatting.iso_minute(order.created_at),
                "customer_id": str(order.customer_id),
                "customer": (customer.name or customer.email) if customer else "",
                "email": customer.email if customer else "",
                "items": ", ".join(item_label(item) for item in items[order.id]),
                "total": format_money(order.total, order.currency),
                "status": order.status,
                "tracking": order.tracking_reference,
            }
        )
    return Page(rows, found.total, found.page, found.pages)


def shipping_lines(address: dict | None) -> list[str]:
    """The ship-to block: the name on it, then the postal lines."""
    if not isinstance(address, dict):
        return []
    name = address.get("name")
    head = [name.strip()] if isinstance(name, str) and name.strip() else []
    return head + list(bill_to.address_lines(address))


def order_detail(
    session: Session, clock: Clock, *, merchant_id: int, order_id: int
) -> OrderDetailView:
    order = orders.get_for_merchant(session, merchant_id, order_id)
    customer = session.get(Customer, order.customer_id)
    invoice = session.get(Invoice, order.invoice_id) if order.invoice_id else None
    money = order.currency

    def when(value) -> str:
        return formatting.iso_minute(value)

    return {
        "id": str(order.id),
        "number": orders.display_number(order),
        "status": order.status,
        "status_label": STATUS_LABELS.get(order.status, order.status),
        "created": when(order.created_at),
        "paid": when(order.paid_at),
        "fulfilled": when(order.fulfilled_at),
        "refunded": when(order.refunded_at),
        "customer_id": str(order.customer_id),
        "customer": (customer.name or customer.email) if customer else "",
        "email": customer.email if customer else "",
        "items": [
            {
                "description": item.description,
                "quantity": str(item.quantity),
                "unit": format_money(item.unit_amount, money),
                "amount": format_money(item.amount, money),
            }
            for item in orders.items_of(session, [order.id])[order.id]
        ],
        "subtotal": format_money(order.subtotal, money),
        "discount": format_money(-order.discount, money) if order.discount else "",
        "total": format_money(order.total, money),
        "shipping": shipping_lines(order.shipping_address),
        "tracking": order.tracking_reference,
        "invoice": invoices.display_number(invoice) if invoice else "",
        "can_fulfil": "yes" if order.status == OrderStatus.PAID else "",
        "can_refund": "yes" if order.status in orders.GRANTING else "",
    }
