"""The one table of page paths: dynamic paths fill in, and the portal's Downloads entry shows for
exactly the digital features the downloads page serves."""

import pytest

from portal_app import routes
from portal_app.services import digital


def test_dynamic_paths_fill_in_their_parameters():
    assert routes.invoice(7) == "/invoices/7"
    assert routes.subscription_cancel("3") == "/subscriptions/3/cancel"
    assert routes.merchant_customer(12) == "/merchant/customers/12"
    with pytest.raises(ValueError):
        routes.path(routes.INVOICE)


def test_downloads_section_follows_the_digital_features():
    downloads = next(s for s in routes.PORTAL_SECTIONS if s.path == routes.DOWNLOADS)
    assert downloads.feature == digital.PORTAL_FEATURES
