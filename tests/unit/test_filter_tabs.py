"""The staff lists' filter tabs (`paging.show_filter`): a filter of the list's own is shown from
page 1; anything else the browser sends is refused and leaves the list as it was."""

from __future__ import annotations

import pytest

from portal_app.state.guard import CLOCK
from portal_app.state.merchant_checkouts import MerchantCheckoutsState
from portal_app.state.merchant_invoices import MerchantInvoicesState
from portal_app.state.merchant_mailbox import MerchantOutboxState
from portal_app.state.merchant_orders import MerchantOrdersState
from portal_app.state.merchant_payments import MerchantPaymentsState
from tests import factories
from tests.statekit import call, root_with, run

CASES = [
    (MerchantCheckoutsState, "completed"),
    (MerchantInvoicesState, "paid"),
    (MerchantOutboxState, "failed"),
    (MerchantOrdersState, "fulfilled"),
    (MerchantPaymentsState, "failed"),
]


@pytest.mark.parametrize(("state_cls", "choice"), CASES, ids=lambda c: getattr(c, "__name__", c))
def test_a_filter_of_the_list_is_shown_and_any_other_refused(app_db, state_cls, choice):
    viewer = factories.staff_with_role(app_db["engine"], CLOCK, app_db["merchant"], "viewer")

    async def scenario():
        root = root_with(staff_sid=viewer)
        await call(root, state_cls, "load")
        state = await root.get_state(state_cls)
        await call(root, state_cls, "show", choice)
        assert (state.status, state.page) == (choice, 1)
        refused = await call(root, state_cls, "show", "drop table")
        assert state.status == choice
        assert "That filter is not available." in str(refused)

    run(scenario())
