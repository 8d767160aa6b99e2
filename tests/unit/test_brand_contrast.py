"""The brand colour must stay readable (#17): WCAG 2.1 contrast against white of at least AA's
4.5:1, since it fills buttons under white text and colours links on the white page. A colour
below it, or one that is not a colour, is refused whole with the ratio and what to do; a good
one is stored as #rrggbb."""

from __future__ import annotations

import pytest

from portal_app.services import contrast, features
from portal_app.services.audit import SYSTEM
from portal_app.services.errors import SettingsError


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("#ffffff", "#000000", 21.0),
        ("#000", "#fff", 21.0),
        ("#4f46e5", "#4f46e5", 1.0),
        ("#767676", "#ffffff", 4.54),  # the darkest grey that still passes AA on white
        ("#777777", "#ffffff", 4.48),
        ("#0f766e", "#ffffff", 5.47),
    ],
)
def test_contrast_ratios_are_wcags(first, second, expected):
    assert contrast.ratio(first, second) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("value", ["#4f46e5", "#0F766E", "#767676", "#000", "#1e3a8a"])
def test_a_readable_colour_is_accepted_and_stored_as_six_digits(value):
    cleaned = features.validate({"branding.color": value})["branding.color"]
    assert cleaned == "#" + "".join(f"{c:02x}" for c in contrast.parse_hex(value))


@pytest.mark.parametrize("value", ["#777777", "#ffcc00", "#ffffff", "#a5b4fc", "#22c55e"])
def test_a_colour_too_light_to_read_is_refused_with_its_ratio(value):
    with pytest.raises(SettingsError) as refused:
        features.validate({"branding.color": value})
    message = str(refused.value)
    assert message.startswith(f"Brand colour: {value} is too light to read")
    assert f"{contrast.ratio(value, contrast.WHITE):.1f}:1" in message
    assert "WCAG AA needs 4.5:1" in message


@pytest.mark.parametrize("value", ["red", "#12345", "#gggggg", "red; x", "", 7, None])
def test_what_is_not_a_colour_is_refused(value):
    with pytest.raises(SettingsError, match="Brand colour: must be a colour like #4f46e5"):
        features.validate({"branding.color": value})


def test_an_unreadable_colour_refuses_the_whole_save(session, clock, catalog):
    merchant_id = catalog.merchant.id
    before = features.load(session, merchant_id)
    with pytest.raises(SettingsError):
        features.save(
            session,
            clock,
            merchant_id,
            {"branding.name": "Sunny", "branding.color": "#ffee00"},
            SYSTEM,
        )
    after = features.load(session, merchant_id)
    assert after["branding.name"] == before["branding.name"]
    assert after["branding.color"] == before["branding.color"] == "#4f46e5"
