"""Orders of one-time products: the order a checkout in payment mode creates (items, totals, its
paid invoice), the customer's order history (behind `orders.view`), and staff moving an order
paid → fulfilled → refunded. A refund gives the invoice's payment back through the gateway,
once. Every change is recorded (`audit.changing`) and claims the order's `version`, so of two
concurrent changes one wins and the other is refused with a clear message."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import (
    Customer,
    Invoice,
    InvoiceStatus,
    Order,
    OrderItem,
    OrderStatus,
    Payment,
    Product,
)
from portal_app.money import format_money
from portal_app.services import audit, features, mailer, queries
from portal_app.services.errors import NotFound, OrderError, PaymentError
from portal_app.services.gateway import PaymentGateway
from portal_app.services.paging import Page, clamp_page, offset, page_count

FEATURE = "orders.view"
PAGE_SIZE = 20
TRACKING_MAX = 200
QUANTITY_MAX = 10_000
DESCRIPTION_MAX = 500
# The statuses an order may be in while it grants its products' digital assets.
GRANTING = (OrderStatus.PAID, OrderStatus.FULFILLED)
STATUSES = (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.REFUNDED)
FILTERS = ("all", *STATUSES)
# What a spreadsheet would run as a formula when it opens a cell starting with it.
FORMULA_STARTS = ("=", "+", "-", "@")


@dataclass(frozen=True)
class OrderItemSpec:
    product_id: int
    description: str
    quantity: int
    unit_amount: int  # minor units, in the invoice's currency

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_amount


def display_number(order: Order) -> str:
    """ "ORD-000123"."""
    return number_label(order.id)


def number_label(order_id: int | None) -> str:
    return f"ORD-{order_id or 0:06d}"


def _snapshot(order: Order) -> dict[str, Any]:
    return {
        "status": order.status,
        "total": order.total,
        "currency": order.currency,
        "tracking_reference": order.tracking_reference,
    }


def conflict() -> OrderError:
    return OrderError(
        "This order was just changed somewhere else. Reload and try again.", code="conflict"
    )


# --- create -------------------------------------------------------------------------------------


def create_paid(
    session: Session,
    clock: Clock,
    *,
    customer: Customer,
    checkout_id: str,
    invoice: Invoice,
    items: list[OrderItemSpec],
    discount: int,
    shipping_address: dict,
    metadata: dict,
    actor: audit.Actor,
) -> Order:
    """The order of a paid checkout: status paid, its items as bought, totals from the items
    (subtotal - discount must be the paid invoice's total). Call it in the confirm's transaction
    after the invoice is paid; a refusal (OrderError) rolls that back."""
    _check_items(session, customer.merchant_id, items)
    subtotal = sum(item.amount for item in items)
    if isinstance(discount, bool) or not isinstance(discount, int) or not 0 <= discount <= subtotal:
        raise OrderError(
            "The discount must be between zero and the subtotal.", code="invalid_discount"
        )
    if invoice.customer_id != customer.id or invoice.merchant_id != customer.merchant_id:
        raise OrderError("The invoice is not this customer's.", code="invoice_mismatch")
    if invoice.status != InvoiceStatus.PAID:
        raise OrderError("An order needs a paid invoice.", code="invoice_not_paid")
    if subtotal - discount != invoice.total:
        raise OrderError("The order's total does not match its invoice.", code="total_mismatch")
    if session.exec(select(Order.id).where(Order.checkout_id == checkout_id)).first() is not None:
        raise OrderError("This checkout already has its order.", code="duplicate")
    now = clock.now()
    order = Order(
        merchant_id=customer.merchant_id,
        customer_id=customer.id,
        checkout_id=checkout_id,
        invoice_id=invoice.id,
        status=OrderStatus.PAID,
        currency=invoice.currency,
        subtotal=subtotal,
        discount=discount,
        total=subtotal - discount,
        shipping_address=dict(shipping_address or {}),
        metadata_=dict(metadata or {}),
        created_at=now,
        paid_at=invoice.paid_at or now,
    )
    # A new row: nothing to claim and no "before"; the snapshot is taken once the items are in.
    with audit.changing(
        session, clock, order, actor=actor, action="order.create", target_type="order"
    ) as change:
        session.add(order)
        session.flush()
        session.add_all(
            OrderItem(
                order_id=order.id,
                product_id=item.product_id,
                description=item.description.strip(),
                quantity=item.quantity,
                unit_amount=item.unit_amount,
                amount=item.amount,
            )
            for item in items
        )
        change.after = {
            **_snapshot(order),
            "invoice_id": invoice.id,
            "items": [[item.product_id, item.quantity, item.unit_amount] for item in items],
        }
    return order


def _check_items(session: Session, merchant_id: int, items: list[OrderItemSpec]) -> None:
    if not items:
        raise OrderError("An order needs at least one item.", code="no_items")
    for item in items:
        whole = all(
            isinstance(value, int) and not isinstance(value, bool)
            for value in (item.product_id, item.quantity, item.unit_amount)
        )
        if (
            not whole
            or not 1 <= item.quantity <= QUANTITY_MAX
            or item.unit_amount < 0
            or not isinstance(item.description, str)
            or not 0 < len(item.description.strip()) <= DESCRIPTION_MAX
        ):
            raise OrderError("An item of the order is not valid.", code="invalid_item")
        product = session.get(Product, item.product_id)
        if product is None or product.merchant_id != merchant_id:
            raise OrderError("An item of the order is not valid.", code="invalid_item")


# --- the customer's orders ----------------------------------------------------------------------


def _require_view(session: Session, customer_id: int) -> Customer:
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("Order not found.")
    features.require_feature(session, customer.merchant_id, FEATURE)
    return customer


def list_for_customer(
    session: Session, customer_id: int, *, page: int = 1, size: int = PAGE_SIZE
) -> Page:
    """One page of the customer's orders, newest first (rows: `Order`); `page` clamped."""
    _require_view(session, customer_id)
    return _newest_first(session, [Order.customer_id == customer_id], page, size)


def get_for_customer(session: Session, customer_id: int, order_id: int) -> Order:
    """The customer's own order; someone else's id is "not found", like a missing one."""
    _require_view(session, customer_id)
    return queries.get_for_customer(session, Order, customer_id, order_id, "Order")


def items_of(session: Session, order_ids: list[int]) -> dict[int, list[OrderItem]]:
    """The items of these orders, in the order they were bought, by order id (one query)."""
    found: dict[int, list[OrderItem]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return found
    for item in session.exec(
        select(OrderItem).where(OrderItem.order_id.in_(order_ids)).order_by(OrderItem.id)
    ):
        found[item.order_id].append(item)
    return found


def granting_product_ids(session: Session, customer_id: int) -> set[int]:
    """The products of the customer's orders that still grant (paid or fulfilled)."""
    return set(
        session.exec(
            select(OrderItem.product_id)
            .join(Order, Order.id == OrderItem.order_id)
            .where(Order.customer_id == customer_id, Order.status.in_(GRANTING))
        )
    )


# --- staff ---------------------------------------------------------------------------------------


def get_for_merchant(session: Session, merchant_id: int, order_id: int) -> Order:
    order = session.get(Order, order_id) if isinstance(order_id, int) else None
    if order is None or order.merchant_id != merchant_id:
        raise NotFound("Order not found.")
    return order


def list_for_merchant(
    session: Session, merchant_id: int, *, status: str = "all", page: int = 1, size: int = PAGE_SIZE
) -> Page:
    """One page of the merchant's orders, newest first (rows: `Order`), of one status or all."""
    if status not in FILTERS:
        raise OrderError("That filter is not available.", code="invalid_filter")
    scope = [Order.merchant_id == merchant_id]
    if status != "all":
        scope.append(Order.status == status)
    return _newest_first(session, scope, page, size)


def _newest_first(session: Session, scope: list, page: int, size: int) -> Page:
    """One page of the orders matching `scope`, newest first, `page` clamped (two queries)."""
    total = queries.count_rows(session, Order, *scope)
    shown = clamp_page(page, total, size)
    rows = session.exec(
        select(Order)
        .where(*scope)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .offset(offset(shown, size))
        .limit(size)
    ).all()
    return Page(list(rows), total, shown, page_count(total, size))


def clean_tracking(value: Any) -> str:
    """A tracking reference as stored: stripped, at most TRACKING_MAX characters, no control
    characters, not starting like a spreadsheet formula; "" for none."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OrderError("The tracking reference must be text.", code="invalid_tracking")
    text = value.strip()
    if len(text) > TRACKING_MAX:
        raise OrderError(
            f"The tracking reference can be at most {TRACKING_MAX} characters.",
            code="tracking_too_long",
        )
    if any(unicodedata.category(char) == "Cc" for char in text) or text.startswith(FORMULA_STARTS):
        raise OrderError(
            "The tracking reference contains characters that are not allowed.",
            code="invalid_tracking",
        )
    return text


def mark_fulfilled(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    order_id: int,
    tracking_reference: Any,
    actor: audit.Actor,
) -> Order:
    """paid → fulfilled, with an optional tracking reference; the customer is told."""
    order = get_for_merchant(session, merchant_id, order_id)
    tracking = clean_tracking(tracking_reference)
    if order.status == OrderStatus.FULFILLED:
        raise OrderError("This order is already fulfilled.", code="already_fulfilled")
    if order.status != OrderStatus.PAID:
        raise OrderError(f"A {order.status} order cannot be fulfilled.", code="not_fulfillable")
    with audit.changing(
        session,
        clock,
        order,
        actor=actor,
        action="order.fulfil",
        snapshot=_snapshot,
        claim=True,
        refuse=conflict,
        target_type="order",
    ):
        order.status = OrderStatus.FULFILLED
        order.tracking_reference = tracking
        order.fulfilled_at = clock.now()
    _mail(
        session,
        clock,
        order,
        kind="order_fulfilled",
        subject=f"Your order {display_number(order)} is on its way",
        body=f"Your order {display_number(order)} has been fulfilled."
        + (f" Tracking reference: {tracking}." if tracking else ""),
    )
    return order


def refund_key(order_id: int) -> str:
    """The gateway idempotency key of an order's refund: one refund per order, ever."""
    return f"order_{order_id}_refund"


def mark_refunded(
    session: Session,
    clock: Clock,
    gateway: PaymentGateway,
    *,
    merchant_id: int,
    order_id: int,
    actor: audit.Actor,
) -> Order:
    """paid or fulfilled → refunded: the succeeded payment of the order's invoice is given back
    through the gateway (keyed by the order, so a retry never refunds twice), the refund is
    recorded in the event, and the customer is told. A refused refund changes nothing."""
    order = get_for_merchant(session, merchant_id, order_id)
    if order.status == OrderStatus.REFUNDED:
        raise OrderError("This order is already refunded.", code="already_refunded")
    if order.status not in GRANTING:
        raise OrderError(f"A {order.status} order cannot be refunded.", code="not_refundable")
    with audit.changing(
        session,
        clock,
        order,
        actor=actor,
        action="order.refund",
        snapshot=_snapshot,
        claim=True,
        refuse=conflict,
        target_type="order",
    ) as change:
        payment = _paid_payment(session, order)
        refunded = 0
        if payment is not None:
            result = gateway.refund(
                session,
                clock,
                charge_id=payment.gateway_charge_id,
                amount=payment.amount,
                idempotency_key=refund_key(order.id),
            )
            if not result.succeeded:
                raise PaymentError(
                    result.failure_message or "The payment could not be refunded.",
                    code=result.failure_code or "refund_failed",
                )
            refunded = result.amount
            change.extra.update(
                refund_id=result.refund_id, payment_id=payment.id, refunded=refunded
            )
        else:
            change.extra.update(refunded=0)  # nothing was charged (a fully discounted order)
        order.status = OrderStatus.REFUNDED
        order.refunded_at = clock.now()
    _mail(
        session,
        clock,
        order,
        kind="order_refunded",
        subject=f"Your order {display_number(order)} was refunded",
        body=(
            f"We refunded {format_money(refunded, order.currency)} for your order "
            f"{display_number(order)}."
            + (" It can take a few days to show on your statement." if refunded else "")
        ),
    )
    return order


def _paid_payment(session: Session, order: Order) -> Payment | None:
    """The succeeded gateway payment of the order's invoice (None: nothing was charged)."""
    if order.invoice_id is None:
        return None
    return session.exec(
        select(Payment)
        .where(
            Payment.invoice_id == order.invoice_id,
            Payment.status == "succeeded",
            Payment.gateway_charge_id.is_not(None),
        )
        .order_by(Payment.id)
    ).first()


def _mail(session: Session, clock: Clock, order: Order, *, kind: str, subject: str, body: str):
    customer = session.get(Customer, order.customer_id)
    if customer is not None:
        mailer.queue(session, clock, customer=customer, kind=kind, subject=subject, body=body)
