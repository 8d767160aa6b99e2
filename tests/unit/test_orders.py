"""Orders of one-time products: the order a paid checkout creates, the customer's history behind
`orders.view`, staff moving it paid → fulfilled → refunded (the payment given back once), the
digital assets a bought product grants, and both Orders pages' states."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from portal_app.models import (
    AssetGrant,
    DigitalAsset,
    Invoice,
    Order,
    OrderItem,
    OutboxEmail,
    Payment,
    Product,
    SandboxCharge,
)
from portal_app.services import audit, digital, features, invoices, orders, orders_view
from portal_app.services.errors import FeatureDisabled, NotFound, OrderError, PaymentError
from portal_app.services.orders import OrderItemSpec
from portal_app.services.sandbox_gateway import SandboxGateway
from portal_app.state.guard import CLOCK
from portal_app.state.merchant_orders import MerchantOrdersState
from portal_app.state.orders import OrdersState
from tests import factories
from tests.statekit import call, root_with, run

STAFF = audit.Actor.merchant(1)


def _product(session, merchant, name="Sticker pack", amount=500) -> Product:
    slug = name.lower().replace(" ", "-")
    return factories.make_product(session, merchant, name, slug, amount, shippable=True)


def _paid_invoice(session, clock, gateway, customer, amount: int, discount: int = 0) -> Invoice:
    lines = [invoices.LineSpec("manual", "Sticker pack", amount)]
    if discount:
        lines.append(invoices.LineSpec("discount", "SPRING (10% off)", -discount))
    invoice = factories.finalized_invoice(session, clock, customer, lines)
    if invoice.status != "paid":
        assert factories.pay_invoice(session, clock, gateway, customer, invoice).succeeded
    session.refresh(invoice)
    return invoice


def _buy(
    session,
    clock,
    gateway,
    customer,
    product,
    *,
    quantity=2,
    discount=0,
    checkout_id="cs_1",
    invoice=None,
) -> Order:
    subtotal = quantity * product.one_time_amount
    if invoice is None:
        invoice = _paid_invoice(session, clock, gateway, customer, subtotal, discount)
    return orders.create_paid(
        session,
        clock,
        customer=customer,
        checkout_id=checkout_id,
        invoice=invoice,
        items=[OrderItemSpec(product.id, product.name, quantity, product.one_time_amount)],
        discount=discount,
        shipping_address={"name": "Zoë Ångström", "line1": "1 Quay St", "country": "NZ"},
        metadata={"campaign": "spring"},
        actor=audit.Actor.customer(customer.id),
    )


def _orders_on(session, clock, merchant_id: int, on: bool = True) -> None:
    features.save(session, clock, merchant_id, {"orders.view": on}, audit.SYSTEM)


@pytest.fixture
def shop(session, clock, catalog, customer, card, gateway):
    product = _product(session, catalog.merchant)
    _orders_on(session, clock, catalog.merchant.id)
    return {"merchant": catalog.merchant, "product": product}


# --- create_paid ----------------------------------------------------------------------------


def test_create_paid_takes_its_totals_from_the_items(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"], quantity=3, discount=150)
    assert (order.status, order.subtotal, order.discount, order.total) == ("paid", 1500, 150, 1350)
    assert order.total == session.get(Invoice, order.invoice_id).total
    assert order.paid_at is not None and order.currency == "USD"
    [item] = session.exec(select(OrderItem).where(OrderItem.order_id == order.id)).all()
    assert (item.quantity, item.unit_amount, item.amount) == (3, 500, 1500)
    assert orders.display_number(order) == f"ORD-{order.id:06d}"
    [event] = factories.audit_events(session, "order.create")
    assert event.target_id == str(order.id) and event.after["total"] == 1350


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"items": []}, "no_items"),
        ({"items": [OrderItemSpec(0, "Sticker pack", 2, 500)]}, "invalid_item"),
        ({"quantity": 0}, "invalid_item"),
        ({"discount": -1}, "invalid_discount"),
        ({"discount": 2000}, "invalid_discount"),
        ({"unit_amount": 400}, "total_mismatch"),
    ],
)
def test_create_paid_refuses_what_does_not_add_up(
    session, clock, gateway, customer, shop, change, code
):
    product = shop["product"]
    invoice = _paid_invoice(session, clock, gateway, customer, 1000)
    items = change.get(
        "items",
        [
            OrderItemSpec(
                product.id,
                product.name,
                change.get("quantity", 2),
                change.get("unit_amount", 500),
            )
        ],
    )
    with factories.refused(OrderError, code):
        orders.create_paid(
            session,
            clock,
            customer=customer,
            checkout_id="cs_bad",
            invoice=invoice,
            items=items,
            discount=change.get("discount", 0),
            shipping_address={},
            metadata={},
            actor=STAFF,
        )
    assert session.exec(select(Order)).all() == []


def test_create_paid_needs_the_customers_paid_invoice(session, clock, gateway, customer, shop):
    open_invoice = factories.finalized_invoice(session, clock, customer, amount=1000)
    with factories.refused(OrderError, "invoice_not_paid"):
        _buy(session, clock, gateway, customer, shop["product"], invoice=open_invoice)
    other = factories.make_customer(session, clock, shop["merchant"], "bob@example.com")
    factories.add_gateway_card(session, clock, gateway, other)
    bobs = _paid_invoice(session, clock, gateway, other, 1000)
    with factories.refused(OrderError, "invoice_mismatch"):
        _buy(session, clock, gateway, customer, shop["product"], invoice=bobs)
    order = _buy(session, clock, gateway, customer, shop["product"])
    with factories.refused(OrderError, "duplicate"):  # one order per checkout
        _buy(session, clock, gateway, customer, shop["product"], checkout_id=order.checkout_id)


def test_another_merchants_product_is_not_an_item(session, clock, gateway, customer, shop):
    elsewhere = factories.make_catalog(session, clock, "globex")
    theirs = _product(session, elsewhere.merchant, "Poster")
    with factories.refused(OrderError, "invalid_item"):
        _buy(session, clock, gateway, customer, theirs)


# --- the customer's orders -----------------------------------------------------------------------


def test_orders_are_scoped_to_their_customer(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"])
    bob = factories.make_customer(session, clock, shop["merchant"], "bob@example.com")
    assert orders.get_for_customer(session, customer.id, order.id).id == order.id
    with factories.refused(NotFound, "not_found"):
        orders.get_for_customer(session, bob.id, order.id)
    assert orders.list_for_customer(session, bob.id).rows == []
    assert [o.id for o in orders.list_for_customer(session, customer.id).rows] == [order.id]


def test_orders_view_toggle_off_refuses_the_history(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"])
    _orders_on(session, clock, shop["merchant"].id, False)
    with factories.refused(FeatureDisabled, "feature_disabled"):
        orders.list_for_customer(session, customer.id)
    with factories.refused(FeatureDisabled, "feature_disabled"):
        orders.get_for_customer(session, customer.id, order.id)
    with factories.refused(FeatureDisabled, "feature_disabled"):
        orders_view.orders_page(session, clock, customer_id=customer.id, page=1)


def test_the_orders_page_rows(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"], discount=100)
    page = orders_view.orders_page(session, clock, customer_id=customer.id, page=1)
    [row] = page.rows
    receipt = factories.receipt_of(session, session.get(Invoice, order.invoice_id))
    assert row.number == f"ORD-{order.id:06d}" and row.lines == ["2 \u00d7 Sticker pack"]
    assert (row.total, row.discount, row.status_label) == ("$9.00", "-$1.00", "Paid")
    assert row.invoice_href == f"/invoices/{order.invoice_id}"
    assert row.invoice_number.startswith("INV-") and row.receipt_id == str(receipt.id)
    assert row.downloads == ""  # the product grants nothing


# --- fulfil and refund ---------------------------------------------------------------------


def test_fulfil_then_refund(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"])
    fulfilled = factories.fulfil_order(session, clock, order, "  1Z999AA10123456784 ")
    assert (fulfilled.status, fulfilled.tracking_reference) == ("fulfilled", "1Z999AA10123456784")
    assert fulfilled.fulfilled_at is not None
    [event] = factories.audit_events(session, "order.fulfil")
    assert (event.before["status"], event.after["status"]) == ("paid", "fulfilled")
    with factories.refused(OrderError, "already_fulfilled"):
        factories.fulfil_order(session, clock, order)
    refunded = factories.refund_order(session, clock, gateway, order)
    assert refunded.status == "refunded" and refunded.refunded_at is not None
    with factories.refused(OrderError, "not_fulfillable"):
        factories.fulfil_order(session, clock, order)
    with factories.refused(OrderError, "already_refunded"):
        factories.refund_order(session, clock, gateway, order)
    kinds = session.exec(select(OutboxEmail.kind).where(OutboxEmail.kind.like("order_%"))).all()
    assert sorted(kinds) == ["order_fulfilled", "order_refunded"]


@pytest.mark.parametrize(
    ("tracking", "code"),
    [
        ("x" * 201, "tracking_too_long"),
        ("=HYPERLINK(1)", "invalid_tracking"),
        ("a\nb", "invalid_tracking"),
    ],
)
def test_bad_tracking_references_change_nothing(
    session, clock, gateway, customer, shop, tracking, code
):
    order = _buy(session, clock, gateway, customer, shop["product"])
    with factories.refused(OrderError, code):
        factories.fulfil_order(session, clock, order, tracking)
    session.refresh(order)
    assert (order.status, order.tracking_reference, order.version) == ("paid", "", 1)


def test_another_merchants_staff_find_no_order(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"])
    elsewhere = factories.make_catalog(session, clock, "globex")
    theirs = elsewhere.merchant.id
    for change in (
        lambda: factories.fulfil_order(session, clock, order, merchant_id=theirs),
        lambda: factories.refund_order(session, clock, gateway, order, merchant_id=theirs),
    ):
        with factories.refused(NotFound, "not_found"):
            change()
    session.refresh(order)
    assert order.status == "paid"


def _charge_of(session, order) -> SandboxCharge:
    payment = session.exec(select(Payment).where(Payment.invoice_id == order.invoice_id)).one()
    return session.get(SandboxCharge, payment.gateway_charge_id)


def test_a_refund_gives_the_payment_back_once(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"])
    factories.refund_order(session, clock, gateway, order)
    with factories.refused(OrderError, "already_refunded"):
        factories.refund_order(session, clock, gateway, order)
    charge = _charge_of(session, order)
    session.refresh(charge)
    assert charge.refunded_amount == charge.amount == 1000
    refunds = session.exec(select(SandboxCharge).where(SandboxCharge.status == "refunded")).all()
    assert [(r.amount, r.idempotency_key) for r in refunds] == [(1000, f"order_{order.id}_refund")]
    [event] = factories.audit_events(session, "order.refund")
    assert event.after["refund_id"] == refunds[0].id and event.after["refunded"] == 1000
    # The gateway itself answers a retried refund with the first one, refunding nothing more.
    again = gateway.refund(
        session, clock, charge_id=charge.id, amount=1000, idempotency_key=f"order_{order.id}_refund"
    )
    assert again.refund_id == refunds[0].id
    session.refresh(charge)
    assert charge.refunded_amount == 1000


def test_the_sandbox_never_refunds_more_than_was_charged(session, clock, gateway, customer, shop):
    order = _buy(session, clock, gateway, customer, shop["product"])
    charge = _charge_of(session, order)
    part = gateway.refund(session, clock, charge_id=charge.id, amount=600, idempotency_key="r1")
    assert part.succeeded and part.amount == 600 and part.charge_id == charge.id
    with factories.refused(PaymentError, "refund_exceeds_charge"):
        gateway.refund(session, clock, charge_id=charge.id, amount=401, idempotency_key="r2")
    with factories.refused(PaymentError, "idempotency_key_reused"):
        gateway.refund(session, clock, charge_id=charge.id, amount=300, idempotency_key="r1")
    with factories.refused(PaymentError, "invalid_charge"):
        gateway.refund(session, clock, charge_id="ch_nope", amount=1, idempotency_key="r3")
    gateway.refund(session, clock, charge_id=charge.id, amount=400, idempotency_key="r4")
    session.refresh(charge)
    assert charge.refunded_amount == 1000
    assert (
        session.exec(select(SandboxCharge).where(SandboxCharge.idempotency_key == "r2")).all() == []
    )


class _RefusingGateway(SandboxGateway):
    def refund(self, session, clock, **request):
        raise PaymentError("The gateway is down.", code="processing_error")


def test_a_refused_refund_leaves_the_order_paid(engine, clock, gateway):
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, clock)
        customer = factories.make_customer(session, clock, catalog.merchant)
        factories.add_gateway_card(session, clock, gateway, customer)
        product = _product(session, catalog.merchant)
        order = _buy(session, clock, gateway, customer, product)
        session.commit()
    with Session(engine) as session, factories.refused(PaymentError, "processing_error"):
        factories.refund_order(session, clock, _RefusingGateway(), order)
    with Session(engine) as session:  # the failed unit of work was never committed
        again = session.get(Order, order.id)
        assert (again.status, again.version, again.refunded_at) == ("paid", 1, None)
        assert factories.audit_events(session, "order.refund") == []


def test_of_two_changes_from_one_read_the_second_is_refused(engine, clock, gateway):
    """Staff A opened the order; staff B fulfils it meanwhile; A's refund, decided on what A
    read, finds the version moved on and changes nothing."""
    with Session(engine, expire_on_commit=False) as session:
        catalog = factories.make_catalog(session, clock)
        customer = factories.make_customer(session, clock, catalog.merchant)
        factories.add_gateway_card(session, clock, gateway, customer)
        order = _buy(session, clock, gateway, customer, _product(session, catalog.merchant))
        session.commit()
    with Session(engine, expire_on_commit=False) as first:
        # A's read, kept in A's session (its transaction ended); held by a name, as the
        # session's identity map is weak and would otherwise drop it and read afresh
        read_by_a = first.get(Order, order.id)
        assert read_by_a.status == "paid"
        first.commit()
        with Session(engine) as second:
            factories.fulfil_order(second, clock, order, "1Z")
            second.commit()
        with factories.refused(OrderError, "conflict"):
            factories.refund_order(first, clock, gateway, order)
    with Session(engine) as session:
        assert session.get(Order, order.id).status == "fulfilled"


# --- digital assets granted by a product ---------------------------------------------------------


def _product_asset(session, clock, product) -> DigitalAsset:
    asset = DigitalAsset(
        merchant_id=product.merchant_id, kind="file", name="Sticker SVGs", created_at=clock.now()
    )
    session.add(asset)
    session.flush()
    session.add(AssetGrant(asset_id=asset.id, product_id=product.id))
    session.flush()
    return asset


def test_a_bought_product_grants_its_assets_until_refunded(session, clock, gateway, customer, shop):
    asset = _product_asset(session, clock, shop["product"])
    assert digital.entitled_assets(session, customer.id) == []
    order = _buy(session, clock, gateway, customer, shop["product"])
    assert [a.id for a in digital.entitled_assets(session, customer.id)] == [asset.id]
    [row] = orders_view.orders_page(session, clock, customer_id=customer.id, page=1).rows
    assert row.downloads == "yes"
    factories.fulfil_order(session, clock, order, "")
    assert [a.id for a in digital.entitled_assets(session, customer.id)] == [asset.id]
    bob = factories.make_customer(session, clock, shop["merchant"], "bob@example.com")
    assert digital.entitled_assets(session, bob.id) == []
    factories.refund_order(session, clock, gateway, order)
    assert digital.entitled_assets(session, customer.id) == []
    [row] = orders_view.orders_page(session, clock, customer_id=customer.id, page=1).rows
    assert row.downloads == ""


def test_plan_and_product_grants_of_one_asset_list_it_once(
    session, clock, gateway, customer, catalog, shop
):
    asset = _product_asset(session, clock, shop["product"])
    session.add(AssetGrant(asset_id=asset.id, plan_id=catalog.plans["Pro"].id))
    factories.subscribe(session, clock, gateway, customer, catalog.monthly["Pro"])
    _buy(session, clock, gateway, customer, shop["product"])
    assert [a.id for a in digital.entitled_assets(session, customer.id)] == [asset.id]


# --- the pages' states ---------------------------------------------------------------------------


@pytest.fixture
def bought(app_db):
    """Alice bought 2 sticker packs (granting a file); orders.view on."""
    with Session(app_db["engine"], expire_on_commit=False) as session:
        product = _product(session, app_db["merchant"])
        _product_asset(session, CLOCK, product)
        order = _buy(session, CLOCK, SandboxGateway(), app_db["alice"], product)
        _orders_on(session, CLOCK, app_db["merchant"].id)
        session.commit()
    return {**app_db, "order": order}


def _customer_orders(sid):
    async def scenario():
        root = root_with(sid)
        answer = await call(root, OrdersState, "load")
        return await root.get_state(OrdersState), answer

    return run(scenario())


def test_the_orders_state_shows_the_customers_own_orders(bought):
    state, _ = _customer_orders(bought["sessions"]["alice@example.com"])
    [row] = state.rows
    assert state.loaded and state.total == 1
    assert (row.number, row.lines, row.downloads) == (
        f"ORD-{bought['order'].id:06d}",
        ["2 \u00d7 Sticker pack"],
        "yes",
    )
    bobs, _ = _customer_orders(bought["sessions"]["bob@example.com"])
    assert bobs.loaded and bobs.rows == [] and bobs.total == 0


def test_the_orders_state_holds_nothing_with_the_toggle_off(bought):
    with Session(bought["engine"]) as session:
        _orders_on(session, CLOCK, bought["merchant"].id, False)
        session.commit()
    state, answer = _customer_orders(bought["sessions"]["alice@example.com"])
    assert "not available" in str(answer)
    assert state.rows == [] and not state.loaded


def _staff(sid, *steps):
    async def scenario():
        root = root_with(staff_sid=sid)
        answers = [await call(root, MerchantOrdersState, "load")]
        for name, *args in steps:
            answers.append(await call(root, MerchantOrdersState, name, *args))
        return await root.get_state(MerchantOrdersState), answers

    return run(scenario())


def test_staff_open_fulfil_and_refund_an_order(bought):
    order_id = bought["order"].id
    state, answers = _staff(
        bought["sessions"]["staff"],
        ("open_order", order_id),
        ("fulfil", {"tracking": "1Z999"}),
        ("refund",),
    )
    assert [row["status"] for row in state.rows] == ["refunded"]
    assert state.opened["status"] == "refunded" and state.opened["tracking"] == "1Z999"
    assert state.opened["shipping"] == ["Zoë Ångström", "1 Quay St", "NZ"]
    assert "fulfilled" in str(answers[2]) and "refunded" in str(answers[3])
    with Session(bought["engine"]) as session:
        assert session.get(Order, order_id).status == "refunded"
        assert digital.entitled_assets(session, bought["alice"].id) == []


def test_staff_roles_fulfil_support_refund_admin(bought):
    with Session(bought["engine"]) as session:
        for role in ("viewer", "support"):
            factories.make_staff(
                session, CLOCK, bought["merchant"], f"{role}@example.com", role=role
            )
        sids = {
            role: factories.staff_signed_in(
                session, CLOCK, bought["merchant"], f"{role}@example.com"
            ).session_id
            for role in ("viewer", "support")
        }
        session.commit()
    order_id = bought["order"].id
    viewer, answers = _staff(sids["viewer"], ("open_order", order_id), ("fulfil", {}))
    assert viewer.opened["status"] == "paid" and "needs Support" in str(answers[2])
    support, answers = _staff(
        sids["support"], ("open_order", order_id), ("refund",), ("fulfil", {"tracking": ""})
    )
    assert "needs Admin" in str(answers[2])
    assert support.opened["status"] == "fulfilled" and support.fulfil_error == ""
    bad, _ = _staff(sids["support"], ("open_order", order_id), ("fulfil", {"tracking": "x"}))
    assert bad.fulfil_error == "This order is already fulfilled."
    with Session(bought["engine"]) as session:
        assert session.get(Order, order_id).status == "fulfilled"
