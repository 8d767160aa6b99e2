"""`guard.write`/`read` fill a service's keyword arguments from who is asking: a customer's own
id always (whatever the handler passed), the actor and merchant unless given, the gateway only
where the service takes one; a staff principal names the customer it acts on."""

from portal_app.services import audit
from portal_app.state import guard


def _service(session, clock, *, customer_id, merchant_id, actor, gateway=None):
    return {"customer_id": customer_id, "merchant_id": merchant_id, "actor": actor, "gw": gateway}


def _no_gateway(session, clock, *, merchant_id, actor):
    return merchant_id, actor


def _as(principal: guard.Principal, service, **kwargs):
    token = guard._current.set(principal)
    try:
        return guard._filled(service, kwargs)
    finally:
        guard._current.reset(token)


CUSTOMER = guard.Principal("customer", 3, 1, 42, None, audit.Actor.customer(42))
STAFF = guard.Principal("staff", 3, 2, None, 9, audit.Actor.merchant(9), staff_role="admin")


def test_a_customer_acts_only_as_themself():
    filled = _as(CUSTOMER, _service, customer_id=7)
    assert filled["customer_id"] == 42
    assert filled["merchant_id"] == 3 and filled["actor"] == CUSTOMER.actor
    assert filled["gateway"] is not None


def test_staff_name_the_customer_and_keep_what_they_pass():
    filled = _as(STAFF, _service, customer_id=7, gateway=None)
    assert filled["customer_id"] == 7
    assert filled["gateway"] is None  # passed explicitly: kept
    assert filled["actor"] == STAFF.actor


def test_only_parameters_the_service_takes_are_filled():
    filled = _as(CUSTOMER, _no_gateway)
    assert set(filled) == {"merchant_id", "actor"}
