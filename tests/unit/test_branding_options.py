"""Settings → Branding's support contacts (#17): an email address and an https page, each
optional; anything else is refused with what it must be. The portal's footer shows them."""

from __future__ import annotations

import pytest

from portal_app.services import features
from portal_app.services.errors import SettingsError


@pytest.mark.parametrize(
    ("key", "value", "stored"),
    [
        ("branding.support_email", " Help@Acme.Example ", "help@acme.example"),
        ("branding.support_email", "", ""),
        ("branding.support_url", "https://acme.example/help", "https://acme.example/help"),
        ("branding.support_url", "  ", ""),
        ("branding.footer", "Acme Inc., 1 Main St", "Acme Inc., 1 Main St"),
    ],
)
def test_support_contacts_are_kept_clean(key, value, stored):
    assert features.validate({key: value})[key] == stored


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("branding.support_email", "help at acme", "Support email: must be an email address"),
        ("branding.support_email", "a@b", "Support email: must be an email address"),
        ("branding.support_email", 7, "Support email: must be an email address"),
        ("branding.support_url", "http://acme.example", "must be a page address starting with"),
        ("branding.support_url", "javascript:alert(1)", "must be a page address starting with"),
        ("branding.support_url", 'https://x.example/"onclick', "must be a page address"),
    ],
)
def test_what_is_not_a_contact_is_refused(key, value, problem):
    with pytest.raises(SettingsError, match=problem):
        features.validate({key: value})
