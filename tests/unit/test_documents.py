"""Invoice and receipt PDFs: what they show (read back with pypdf), who may download them, the
'?' for scripts the font lacks, the content-addressed cache, and the embedded font subset."""

import io
import os
import struct

import pypdf
import pytest
from fontTools.ttLib import TTFont
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal_app.models import PortalSettings
from portal_app.services import audit, documents, features, invoices, payment_methods
from portal_app.services.documents import cache as pdf_cache_module
from portal_app.services.documents import drawing
from portal_app.services.documents import facts as document_facts
from portal_app.services.errors import FeatureDisabled, InvoiceError, NotFound
from portal_app.services.invoices import LineSpec
from tests import factories

SYSTEM = audit.SYSTEM


@pytest.fixture(autouse=True)
def pdf_cache(tmp_path, monkeypatch):
    """Each test gets an empty disk cache and an empty in-process LRU."""
    directory = tmp_path / "pdf-cache"
    monkeypatch.setenv("PORTAL_CACHE_DIR", str(directory))
    documents.clear_memory_cache()
    yield directory
    documents.clear_memory_cache()


@pytest.fixture
def renders(monkeypatch):
    """Counts real renders (cache misses)."""
    calls = []
    real = documents.render

    def counting(doc):
        calls.append(doc.number)
        return real(doc)

    monkeypatch.setattr(pdf_cache_module, "render", counting)  # what the cache calls on a miss
    return calls


def _text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _download(session, clock, customer, invoice):
    return documents.invoice_pdf(session, clock, customer_id=customer.id, invoice_id=invoice.id)


def _rename(session, customer, name):
    customer.name = name
    session.add(customer)
    session.flush()


def _pdf_text_as(session, clock, customer, name, line):
    """The text of the PDF of a new invoice (one line, described `line`) once the customer is
    called `name`."""
    _rename(session, customer, name)
    invoice = factories.finalized_invoice(session, clock, customer, [LineSpec("manual", line, 900)])
    return _text(_download(session, clock, customer, invoice)[0])


# --- what the invoice shows ----------------------------------------------------------------------


def test_invoice_pdf_shows_merchant_customer_lines_and_totals(session, clock, catalog, customer):
    catalog.merchant.address = "1 Main Street\nSpringfield, IL 62701"
    customer.billing_address = {
        "line1": "Sveavägen 12",
        "city": "Stockholm",
        "postal_code": "111 57",
        "country": "SE",
    }
    session.add_all([catalog.merchant, customer])
    start = clock.now()
    invoice = factories.finalized_invoice(
        session,
        clock,
        customer,
        [
            LineSpec("subscription", "Pro plan (monthly)", 2000, start, start.replace(month=2)),
            LineSpec("manual", "Onboarding workshop", 12550),
            LineSpec("discount", "Loyalty discount", -550),
        ],
    )
    data, filename = _download(session, clock, customer, invoice)

    assert filename == "INV-000001.pdf" and data.startswith(b"%PDF-")
    text = _text(data)
    for expected in (
        "INV-000001",
        "Acme Inc.",
        "1 Main Street",
        "Springfield, IL 62701",
        "Zoë Ångström",
        "zoe@example.com",
        "Sveavägen 12",
        "Stockholm 111 57",
        "Status: Open",
        "Issued Jan 15, 2026",
        "Due Jan 15, 2026",
        "Jan 15, 2026 \u2013 Feb 15, 2026",
        "Pro plan (monthly)",
        "Onboarding workshop",
        "Loyalty discount",
        "$20.00",
        "$125.50",
        "-$5.50",
        "Subtotal $140.00",
        "Tax $0.00",
        "Total $140.00",
        "Amount paid $0.00",
        "Amount due $140.00",
    ):
        assert expected in text, expected
    assert "Paid " not in text  # no paid date on an open invoice


@pytest.mark.parametrize("name", ["Νίκος Παπαδόπουλος", "Ольга Иванова", "Zoë Ångström"])
def test_greek_cyrillic_and_latin_names_are_drawn(session, clock, customer, name):
    text = _pdf_text_as(session, clock, customer, name, line=f"Support for {name}")
    assert name in text
    assert f"Support for {name}" in text
    assert "?" not in text


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("王小明", "???"),
        ("🦄 Unicorn Ltd", "? Unicorn Ltd"),
        ("Ana 👍🏽", "Ana ?"),  # the skin-tone modifier is dropped, not a second '?'
        ("👩\u200d💻 Dev", "?? Dev"),  # ZWJ sequence: the joiner is invisible
        ("Zoe\u0308 (decomposed)", "Zoë (decomposed)"),  # NFC first
    ],
)
def test_scripts_the_font_lacks_become_question_marks(session, clock, customer, name, shown):
    assert 0x738B not in documents._fonts().coverage  # 王: premise of the test
    assert 0x1F984 not in documents._fonts().coverage  # 🦄
    text = _pdf_text_as(session, clock, customer, name, line=f"套餐 for {name}")
    assert shown in text
    assert f"?? for {shown}" in text
    assert "王" not in text and "🦄" not in text


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=80), description=st.text(min_size=1, max_size=200))
def test_any_text_renders_a_readable_pdf(name, description):
    doc = documents.Document(
        title="Invoice",
        number="INV-000001",
        status="Open",
        issued_at="2026-01-15T12:00:00+00:00",
        merchant_name=name,
        merchant_address=(name,),
        bill_to=(name, "x@example.com"),
        facts=(("Issued", "Jan 15, 2026"),),
        lines=((description, name, "$1.00"),),
        totals=(("Total", "$1.00", True),),
    )
    text = _text(documents.render(doc))
    assert "INV-000001" in text and "$1.00" in text


def test_branding_name_colour_and_invalid_colour(session, clock, catalog, customer):
    features.save(
        session,
        clock,
        catalog.merchant.id,
        {"branding.name": "Acme Cloud", "branding.color": "#0F766E"},
        SYSTEM,
    )
    invoice = factories.finalized_invoice(session, clock, customer)
    data, _ = _download(session, clock, customer, invoice)
    text = _text(data)
    assert "Acme Cloud" in text and "Acme Inc." not in text
    page = pypdf.PdfReader(io.BytesIO(data)).pages[0].get_contents().get_data()
    assert b"0.0588 0.4627 0.4314 rg" in page  # #0f766e as the brand bar's fill

    # Saving refuses such a colour now (features: "color"); one stored before that still
    # draws the default.
    stored = session.get(PortalSettings, catalog.merchant.id)
    stored.document = {**stored.document, "branding.color": "red; x"}
    session.add(stored)
    session.flush()
    doc = documents.invoice_document(session, invoice, features.load(session, catalog.merchant.id))
    assert doc.color == "#4f46e5"


@pytest.mark.parametrize(
    ("value", "rgb"),
    [
        ("#4f46e5", (79, 70, 229)),
        ("#ABC", (170, 187, 204)),
        (" 0f766e ", (15, 118, 110)),
        ("javascript:alert(1)", (79, 70, 229)),
        ("#12345", (79, 70, 229)),
        ("", (79, 70, 229)),
        (None, (79, 70, 229)),
    ],
)
def test_parse_color(value, rgb):
    assert documents.parse_color(value) == rgb


def test_logo_only_from_a_local_file_under_assets(
    session, clock, catalog, customer, tmp_path, monkeypatch
):
    from PIL import Image

    assets = tmp_path / "assets"
    (assets / "brand").mkdir(parents=True)
    Image.new("RGB", (40, 20), (200, 30, 30)).save(assets / "brand" / "logo.png")
    (tmp_path / "secret.png").write_bytes((assets / "brand" / "logo.png").read_bytes())
    monkeypatch.setattr(document_facts, "ASSETS_DIR", assets)
    invoice = factories.finalized_invoice(session, clock, customer)

    def doc_for(url):
        features.save(session, clock, catalog.merchant.id, {"branding.logo_url": url}, SYSTEM)
        fs = features.load(session, catalog.merchant.id)
        return documents.invoice_document(session, invoice, fs)

    for local in ("/brand/logo.png", "brand/logo.png", "/assets/brand/logo.png"):
        assert doc_for(local).logo == "brand/logo.png"
    for ignored in (
        "https://cdn.example.com/brand/logo.png",
        "//cdn.example.com/brand/logo.png",
        "file:///etc/passwd",
        "/../secret.png",
        "brand/../../secret.png",
        "/brand/missing.png",
        "/brand",
    ):
        assert doc_for(ignored).logo == "", ignored

    doc = doc_for("/brand/logo.png")
    reader = pypdf.PdfReader(io.BytesIO(documents.render(doc)))
    assert len(reader.pages[0]["/Resources"]["/XObject"]) == 1
    key = documents.cache_key(doc)
    Image.new("RGB", (40, 20), (30, 30, 200)).save(assets / "brand" / "logo.png")
    os.utime(assets / "brand" / "logo.png", ns=(1, 1))  # a new file, whatever the clock says
    assert documents.cache_key(doc_for("/brand/logo.png")) != key


def test_void_invoice_says_so_and_nothing_is_due(session, clock, customer):
    invoice = factories.finalized_invoice(session, clock, customer)
    invoices.void(session, clock, invoice, SYSTEM)
    text = _text(_download(session, clock, customer, invoice)[0])
    assert "Status: Void" in text
    assert "Amount due $0.00" in text
    assert "voided on Jan 15, 2026 and is not payable" in text


def test_long_invoices_continue_on_more_pages(session, clock, customer):
    lines = [
        LineSpec("manual", f"Usage item {n:02d} " + "detail " * (n % 12), 100) for n in range(70)
    ]
    invoice = factories.finalized_invoice(session, clock, customer, lines)
    data, _ = _download(session, clock, customer, invoice)
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 2
    pages = [page.extract_text() for page in reader.pages]
    text = "\n".join(pages)
    for n in range(70):
        assert f"Usage item {n:02d}" in text
    assert "Description" in pages[1]  # table header repeated
    assert f"Page 2/{len(pages)}" in pages[1]
    assert "Total $70.00" in text


# --- who may download ----------------------------------------------------------------------------


def test_another_customers_invoice_and_receipt_are_not_found(
    session, clock, gateway, customer, card
):
    invoice = factories.finalized_invoice(session, clock, customer)
    factories.pay_invoice(session, clock, gateway, customer, invoice)
    receipt = factories.receipt_of(session, invoice)
    other = factories.make_customer(session, clock, _merchant(session, customer), "eve@x.test")
    with pytest.raises(NotFound):
        documents.invoice_pdf(session, clock, customer_id=other.id, invoice_id=invoice.id)
    with pytest.raises(NotFound):
        documents.receipt_pdf(session, clock, customer_id=other.id, receipt_id=receipt.id)
    with pytest.raises(NotFound):
        documents.receipt_pdf(session, clock, customer_id=customer.id, receipt_id=10_000)


def _merchant(session, customer):
    from portal_app.models import Merchant

    return session.get(Merchant, customer.merchant_id)


def test_feature_off_refuses_downloads(session, clock, gateway, catalog, customer, card):
    invoice = factories.finalized_invoice(session, clock, customer)
    factories.pay_invoice(session, clock, gateway, customer, invoice)
    receipt = factories.receipt_of(session, invoice)
    features.save(
        session,
        clock,
        catalog.merchant.id,
        {"invoices.download_pdf": False, "invoices.receipts": False},
        SYSTEM,
    )
    with pytest.raises(FeatureDisabled):
        _download(session, clock, customer, invoice)
    with pytest.raises(FeatureDisabled):
        documents.receipt_pdf(session, clock, customer_id=customer.id, receipt_id=receipt.id)
    # The merchant's own copy does not depend on the customer portal's toggles.
    data, _ = documents.invoice_pdf_for_merchant(
        session, merchant_id=catalog.merchant.id, invoice_id=invoice.id
    )
    assert "INV-000001" in _text(data)


def test_drafts_have_no_pdf(session, clock, catalog, customer, renders):
    draft = factories.draft_invoice(
        session, clock, customer, [LineSpec("manual", "Draft work", 500)]
    )
    with pytest.raises(NotFound):
        _download(session, clock, customer, draft)
    with pytest.raises(InvoiceError, match="draft"):
        documents.invoice_pdf_for_merchant(
            session, merchant_id=catalog.merchant.id, invoice_id=draft.id
        )
    assert renders == []


def test_merchant_variant_is_scoped_to_the_merchant(session, clock, catalog, customer):
    invoice = factories.finalized_invoice(session, clock, customer)
    data, filename = documents.invoice_pdf_for_merchant(
        session, merchant_id=catalog.merchant.id, invoice_id=invoice.id
    )
    assert filename == "INV-000001.pdf" and "Zoë Ångström" in _text(data)
    other = factories.make_catalog(session, clock, slug="globex").merchant
    with pytest.raises(NotFound):
        documents.invoice_pdf_for_merchant(session, merchant_id=other.id, invoice_id=invoice.id)


# --- receipts ------------------------------------------------------------------------------------


def test_receipt_shows_card_brand_and_last4_only(session, clock, gateway, customer, card):
    invoice = factories.finalized_invoice(
        session, clock, customer, [LineSpec("manual", "Consulting", 4999)]
    )
    outcome = factories.pay_invoice(session, clock, gateway, customer, invoice)
    assert outcome.status == "paid"
    receipt = factories.receipt_of(session, invoice)
    data, filename = documents.receipt_pdf(
        session, clock, customer_id=customer.id, receipt_id=receipt.id
    )
    assert filename == "RCT-000001.pdf"
    text = _text(data)
    for expected in (
        "RECEIPT",
        "RCT-000001",
        "Zoë Ångström",
        "Payment method Visa •••• 4242",
        "Invoice INV-000001",
        "Date paid Jan 15, 2026",
        "Amount paid $49.99",
    ):
        assert expected in text, expected
    assert "4242424242424242" not in text and "424242" not in text
    assert b"4242424242424242" not in data

    # The paid invoice now says so.
    text = _text(_download(session, clock, customer, invoice)[0])
    assert "Status: Paid" in text and "Amount due $0.00" in text and "Paid Jan 15, 2026" in text


@pytest.mark.parametrize(
    ("brand", "last4", "label"),
    [
        ("visa", "4242", "Visa •••• 4242"),
        ("mastercard", "4444", "Mastercard •••• 4444"),
        ("visa", "4242424242424242", "Visa •••• 4242"),  # a bad row never leaks a number
        ("amex", "", "Amex"),
        ("", "x1y2", "Card •••• 12"),
    ],
)
def test_card_label(brand, last4, label):
    assert payment_methods.card_label(brand, last4) == label


# --- cache ---------------------------------------------------------------------------------------


def test_repeat_download_is_served_from_cache(session, clock, customer, renders, pdf_cache):
    invoice = factories.finalized_invoice(session, clock, customer)
    first, _ = _download(session, clock, customer, invoice)
    second, _ = _download(session, clock, customer, invoice)
    assert renders == ["INV-000001"]
    assert second == first
    key = documents.invoice_cache_key(session, invoice_id=invoice.id)
    stored = pdf_cache / key[:2] / f"{key}.pdf"
    assert stored.read_bytes() == first
    assert stored.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in stored.parent.iterdir()] == [stored.name]  # no temp files left

    documents.clear_memory_cache()  # a new process: served from disk
    third, _ = _download(session, clock, customer, invoice)
    assert third == first and renders == ["INV-000001"]


def test_content_changes_give_a_new_key(session, clock, gateway, customer, card, renders):
    invoice = factories.finalized_invoice(session, clock, customer)
    keys = {documents.invoice_cache_key(session, invoice_id=invoice.id)}
    _download(session, clock, customer, invoice)

    factories.pay_invoice(session, clock, gateway, customer, invoice)
    keys.add(documents.invoice_cache_key(session, invoice_id=invoice.id))
    assert "Status: Paid" in _text(_download(session, clock, customer, invoice)[0])

    features.save(session, clock, customer.merchant_id, {"branding.color": "#0F766E"}, SYSTEM)
    keys.add(documents.invoice_cache_key(session, invoice_id=invoice.id))
    _download(session, clock, customer, invoice)

    # A profile change does not touch an issued invoice (its bill-to is a snapshot): same key,
    # same PDF, no new render (tests/unit/test_bill_to_snapshot.py has the full story).
    paid_key = documents.invoice_cache_key(session, invoice_id=invoice.id)
    customer.billing_address = {"line1": "New Road 1", "city": "Oslo"}
    session.add(customer)
    session.flush()
    _rename(session, customer, "Zoë Ångström-Berg")
    assert documents.invoice_cache_key(session, invoice_id=invoice.id) == paid_key
    assert "New Road 1" not in _text(_download(session, clock, customer, invoice)[0])

    assert len(keys) == 3
    assert len(renders) == 3


def test_rendering_is_deterministic(session, clock, customer):
    invoice = factories.finalized_invoice(session, clock, customer)
    doc = documents.invoice_document(session, invoice, features.load(session, customer.merchant_id))
    assert documents.render(doc) == documents.render(doc)


def test_a_truncated_cache_file_is_rendered_again(session, clock, customer, renders, pdf_cache):
    invoice = factories.finalized_invoice(session, clock, customer)
    good, _ = _download(session, clock, customer, invoice)
    key = documents.invoice_cache_key(session, invoice_id=invoice.id)
    (pdf_cache / key[:2] / f"{key}.pdf").write_bytes(good[:100])
    documents.clear_memory_cache()
    again, _ = _download(session, clock, customer, invoice)
    assert again == good and len(renders) == 2
    assert (pdf_cache / key[:2] / f"{key}.pdf").read_bytes() == good


def test_unwritable_cache_still_serves_the_pdf(session, clock, customer, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("PORTAL_CACHE_DIR", str(blocker / "pdf"))
    invoice = factories.finalized_invoice(session, clock, customer)
    data, _ = _download(session, clock, customer, invoice)
    assert "INV-000001" in _text(data)


# --- fonts ---------------------------------------------------------------------------------------


def _embedded_fonts(data: bytes) -> dict[str, bytes]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    found = {}
    for font in reader.pages[0]["/Resources"]["/Font"].values():
        font = font.get_object()
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        found[str(font["/BaseFont"]).lstrip("/")] = descriptor["/FontFile2"].get_data()
    return found


def test_embedded_subset_is_a_valid_font_with_the_original_glyphs(session, clock, customer):
    name = "Zoë Ångström Νίκος Ольга"
    _rename(session, customer, name)
    invoice = factories.finalized_invoice(session, clock, customer)
    fonts = _embedded_fonts(_download(session, clock, customer, invoice)[0])
    assert len(fonts) == 2
    original = TTFont(str(documents.FONT_DIR / "DejaVuSans-Bold.ttf"))  # names are set in bold
    [(base_font, program)] = [(k, v) for k, v in fonts.items() if k.endswith("+DejaVuSansBold")]
    assert base_font[6] == "+" and base_font[:6].isalpha() and base_font[:6].isupper()
    subset = TTFont(io.BytesIO(program), checkChecksums=2)
    for tag in list(subset.keys()):
        subset[tag]  # decompile everything; checksums are verified on the way
    total = sum(struct.unpack(f">{len(program) // 4}I", program)) & 0xFFFFFFFF
    assert total == 0xB1B0AFBA  # whole-file checksum (head.checkSumAdjustment)
    assert len(program) < len(documents.FONT_DIR.joinpath("DejaVuSans-Bold.ttf").read_bytes()) / 4
    cmap, original_cmap = subset.getBestCmap(), original.getBestCmap()
    original_order, subset_order = original.getGlyphOrder(), subset.getGlyphOrder()
    for char in set(name) - {" "}:
        gid = original.getGlyphID(original_cmap[ord(char)])
        assert subset.getGlyphID(cmap[ord(char)]) == gid  # glyph ids are kept
        mine = subset["glyf"][subset_order[gid]]
        theirs = original["glyf"][original_order[gid]]
        assert mine.getCoordinates(subset["glyf"])[0] == theirs.getCoordinates(original["glyf"])[0]
        assert subset["hmtx"][subset_order[gid]][0] == original["hmtx"][original_order[gid]][0]
    unused = original.getGlyphID(original_cmap[ord("Ж")])
    assert subset["glyf"][subset_order[unused]].numberOfContours == 0  # emptied


def test_fast_path_is_used_and_the_fallback_renders_the_same_text(
    session, clock, customer, monkeypatch
):
    monkeypatch.setattr(drawing, "_fallbacks", 0)
    invoice = factories.finalized_invoice(session, clock, customer)
    doc = documents.invoice_document(session, invoice, features.load(session, customer.merchant_id))
    fast = documents.render(doc)
    assert documents.drawing._fallbacks == 0

    def broken():
        raise AttributeError("fpdf2 changed")

    monkeypatch.setattr(drawing, "_output_producer", broken)
    slow = documents.render(doc)
    assert documents.drawing._fallbacks == 1
    assert _text(slow) == _text(fast)
    assert len(fast) < len(slow) * 1.5


def test_clean_text():
    fonts = documents._fonts()
    assert fonts.clean("Zoe\u0308") == "Zoë"
    assert fonts.clean("a\tb\r\nc") == "a b  c"
    assert fonts.clean("a\nb", multiline=True) == "a\nb"
    assert fonts.clean("bell\x07") == "bell"
    assert fonts.clean("日本") == "??"
    assert fonts.clean("\ud800") == "?"  # a lone surrogate never reaches fpdf2


def test_an_unreadable_logo_is_skipped(session, clock, catalog, customer, tmp_path, monkeypatch):
    (tmp_path / "logo.png").write_bytes(b"not a png at all")
    monkeypatch.setattr(documents, "ASSETS_DIR", tmp_path)
    features.save(session, clock, catalog.merchant.id, {"branding.logo_url": "/logo.png"}, SYSTEM)
    invoice = factories.finalized_invoice(session, clock, customer)
    data, _ = _download(session, clock, customer, invoice)
    assert "INV-000001" in _text(data)
    assert "/XObject" not in pypdf.PdfReader(io.BytesIO(data)).pages[0]["/Resources"]


def test_concurrent_renders_share_the_parsed_font_safely():
    from concurrent.futures import ThreadPoolExecutor

    names = ["Zoë Ångström", "Νίκος Παπαδόπουλος", "Ольга Иванова", "王小明", "Jordan"] * 4
    docs = [
        documents.Document(
            title="Invoice",
            number=f"INV-{n:06d}",
            status="Open",
            issued_at="2026-01-15T12:00:00+00:00",
            merchant_name="Acme",
            merchant_address=(),
            bill_to=(f"{name} {n}",),
            facts=(),
            lines=((f"Item for {name}", "", "$1.00"),),
            totals=(("Total", "$1.00", True),),
        )
        for n, name in enumerate(names)
    ]
    expected = [documents.render(doc) for doc in docs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(documents.render, docs)) == expected
