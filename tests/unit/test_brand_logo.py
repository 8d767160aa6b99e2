"""The uploaded logo: PNG and JPEG drawn again and scaled, SVG rebuilt from an allow-list (no
script, handler, foreign content or outside link), anything else refused; saved as a version,
served by /brand/<merchant>/logo, shown in the portal's header; admins only."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image
from starlette.testclient import TestClient

from portal_app.services import brand_logo, features, merchant_settings_view, nav_view
from portal_app.services.errors import SettingsError
from portal_app.state import MerchantSettingsState
from portal_app.state.guard import CLOCK
from tests.statekit import call, root_with, run
from tests.unit.helpers_staff import staff_as


def _image(kind: str, size=(1200, 300), **info) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (79, 70, 229)).save(out, kind, **info)
    return out.getvalue()


def _decoded(value: str) -> tuple[str, bytes]:
    decoded = brand_logo.decode(value)
    assert decoded is not None
    return decoded


def test_a_png_is_drawn_again_scaled_to_fit_without_its_metadata():
    from PIL.PngImagePlugin import PngInfo

    meta = PngInfo()
    meta.add_text("Comment", "secret-tracking-id")
    mime, data = _decoded(brand_logo.from_upload(_image("PNG", pnginfo=meta)))
    assert mime == "image/png"
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (600, 150)  # 1200 x 300 scaled to fit 600 x 200
    assert b"secret-tracking-id" not in data


def test_a_jpeg_stays_a_jpeg():
    mime, data = _decoded(brand_logo.from_upload(_image("JPEG", size=(300, 100))))
    assert mime == "image/jpeg" and data.startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (_image("GIF", size=(10, 10)), "PNG, JPEG or SVG"),
        (b"\x89PNG\r\n\x1a\n" + b"not really", "could not be read"),
        (_image("PNG")[:200], "could not be read"),  # truncated
        (b"x" * (brand_logo.UPLOAD_MAX_BYTES + 1), "over 1024 KB"),
        (b"<html><script>alert(1)</script></html>", "could not be read"),
    ],
)
def test_anything_else_is_refused_with_why(data, words):
    with pytest.raises(brand_logo.LogoError, match=words):
        brand_logo.from_upload(data)


EVIL_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
  viewBox="0 0 100 40" onload="alert(1)">
  <script>alert(2)</script>
  <foreignObject><div xmlns="http://www.w3.org/1999/xhtml">hi</div></foreignObject>
  <defs><linearGradient id="g"><stop offset="0" stop-color="#4f46e5"/></linearGradient></defs>
  <a href="javascript:alert(3)"><rect width="10" height="10"/></a>
  <image href="https://tracker.example/pixel.png" width="1" height="1"/>
  <use xlink:href="https://evil.example/x.svg#a"/>
  <use href="#g"/>
  <rect width="100" height="40" fill="url(#g)" style="fill:url(https://evil.example/x)"
        onclick="alert(4)"/>
  <text x="5" y="30" font-size="20">Acme</text>
</svg>"""


def test_an_svg_keeps_its_drawing_and_loses_everything_that_could_act():
    mime, data = _decoded(brand_logo.from_upload(EVIL_SVG))
    text = data.decode()
    assert mime == "image/svg+xml"
    for gone in ("script", "onload", "onclick", "foreignObject", "javascript:", "evil.example",
                 "tracker.example", "<a", "alert"):  # fmt: skip
        assert gone not in text, gone
    assert 'fill="url(#g)"' in text and 'href="#g"' in text and ">Acme</text>" in text
    assert brand_logo.from_upload(data) == brand_logo.from_upload(EVIL_SVG)  # stable


@pytest.mark.parametrize(
    "svg",
    [
        b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "xxxxxxxx">]><svg>&x;</svg>',
        b'<!DOCTYPE svg SYSTEM "http://evil.example/x.dtd"><svg/>',
        b"<svg><unclosed></svg>",
        b'<svg xmlns="http://evil.example/not-svg"/>',
    ],
)
def test_an_svg_with_a_dtd_entities_or_no_svg_in_it_is_refused(svg):
    with pytest.raises(brand_logo.LogoError):
        brand_logo.from_upload(svg)


def test_a_stored_logo_is_checked_again_from_a_settings_file_or_restore():
    good = brand_logo.from_upload(_image("PNG"))
    assert features.validate({"branding.logo": good}) == {"branding.logo": good}  # as it was
    gif = "data:image/png;base64," + base64.b64encode(_image("GIF", size=(5, 5))).decode()
    huge = "data:image/png;base64," + base64.b64encode(_image("PNG", size=(2000, 900))).decode()
    for bad in (gif, huge, "https://example.com/logo.png", "data:text/html;base64,PHA+", 5):
        with pytest.raises(SettingsError, match="Logo"):
            features.validate({"branding.logo": bad})
    svg = "data:image/svg+xml;base64," + base64.b64encode(EVIL_SVG).decode()
    assert b"script" not in _decoded(features.validate({"branding.logo": svg})["branding.logo"])[1]


def test_a_saved_logo_is_a_version_served_by_its_url_and_shown_in_the_header(
    session, clock, catalog
):
    from portal_app.services import audit, settings_history

    merchant_id = catalog.merchant.id
    merchant_settings_view.save_logo(
        session, clock, merchant_id=merchant_id, data=_image("PNG"), actor=audit.Actor.merchant(1)
    )
    settings = features.load(session, merchant_id)
    url = nav_view.logo_url(merchant_id, settings)
    assert url == f"/brand/{merchant_id}/logo?v={brand_logo.digest(settings['branding.logo'])}"
    newest = settings_history.versions(session, merchant_id)[0]
    assert any("uploaded PNG" in str(line) for line in newest.lines)
    with pytest.raises(SettingsError, match="PNG, JPEG or SVG"):
        merchant_settings_view.save_logo(
            session, clock, merchant_id=merchant_id, data=b"GIF89a", actor=audit.Actor.merchant(1)
        )
    assert features.load(session, merchant_id)["branding.logo"] == settings["branding.logo"]


def test_the_logo_route_serves_the_image_with_a_policy_that_runs_nothing(app_db):
    from sqlmodel import Session

    from portal_app.http.routes import build_http_app
    from portal_app.services import audit

    merchant_id = app_db["merchant"].id
    client = TestClient(build_http_app())
    assert client.get(f"/brand/{merchant_id}/logo").status_code == 404
    with Session(app_db["engine"]) as session:
        merchant_settings_view.save_logo(
            session, CLOCK, merchant_id=merchant_id, data=EVIL_SVG, actor=audit.Actor.merchant(1)
        )
        session.commit()
        stored = features.load(session, merchant_id)["branding.logo"]
    fresh = client.get(
        nav_view.logo_url(merchant_id, features.from_document({"branding.logo": stored}))
    )
    assert fresh.status_code == 200
    assert fresh.headers["content-type"] == "image/svg+xml"
    assert "sandbox" in fresh.headers["content-security-policy"]
    assert "immutable" in fresh.headers["cache-control"]
    assert fresh.content == _decoded(stored)[1]
    stale = client.get(f"/brand/{merchant_id}/logo?v=old")
    assert stale.headers["cache-control"] == "no-cache"


def test_a_viewer_cannot_remove_the_logo(app_db):
    viewer = staff_as(app_db, "viewer")

    async def scenario():
        root = root_with(staff_sid=viewer)
        await call(root, MerchantSettingsState, "load")
        return str(await call(root, MerchantSettingsState, "remove_logo"))

    assert "it needs Admin" in run(scenario())
