"""Runs after every other test of the session (marked `after_all_tests`, which
tests/browser/conftest.py orders last, whatever the file names): after every other browser test
has signed people in, paid, forged events and created keys, neither the servers' databases nor
their logs may hold a card number, a raw magic-link token, a session cookie value, a password or
an API key (spec R1.1, R3.4, R4.6), nor a Stripe key or client secret (issue #16).

Mail that carries a link is stored sealed; the dev mailbox decrypts it only for display."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    LOGIN_STATE,
    OTHER_APPS,
    SEEN_SECRETS,
    AppDB,
    RawClient,
    create_portal_link,
    redeem_over_http,
    remember_secret,
    run_async,
    token_of,
)

pytestmark = [pytest.mark.browser, pytest.mark.after_all_tests]

# A run of 13-19 digits that is a whole token (not part of a hex digest, a base64 string or a
# longer number), optionally grouped in fours by spaces or dashes as people type card numbers.
CANDIDATE = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7})(?![0-9A-Za-z])"
)
API_KEY = re.compile(r"sk_portal_[A-Za-z0-9_\-]{20,}")
# Stripe's keys (secret, restricted, publishable) and the client secrets of its intents.
STRIPE_SECRET = re.compile(
    r"\b(?:[sr]k|pk)_(?:test|live)_[A-Za-z0-9_]{8,}|\b(?:pi|seti)_[A-Za-z0-9]+_secret_[A-Za-z0-9]+"
)
# The demo's card numbers, wherever they appear, even inside other text.
DEMO_PANS = ("4242424242424242", "5555555555554444", "378282246310005", "4000000000009995")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def card_numbers(text: str) -> list[str]:
    found = []
    for match in CANDIDATE.finditer(text):
        digits = re.sub(r"[ -]", "", match.group(0))
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            found.append(digits)
    found += [pan for pan in DEMO_PANS if pan in text]
    return list(dict.fromkeys(found))


def mask(value: str) -> str:
    return f"{value[:4]}…{value[-2:]}" if len(value) > 8 else "…"


def test_detector_finds_what_it_should():
    """The scan is only as good as its detector: check it on planted values."""
    assert card_numbers("paid with 4111111111111111 today") == ["4111111111111111"]
    assert card_numbers("card 4111 1111 1111 1111.") == ["4111111111111111"]
    assert card_numbers("amex 3782-822463-10005") == []  # not grouped in fours: not our format
    assert card_numbers("amex 378282246310005 ok") == ["378282246310005"]
    assert card_numbers("tok_4242424242424242x") == ["4242424242424242"]  # a demo PAN anywhere
    assert card_numbers("4111111111111112") == []  # fails the Luhn check
    assert card_numbers("hash 9a4111111111111111b0") == []  # inside a hex string
    assert card_numbers("ts 2026-11-24 19:03:00.123456, id 1234567") == []
    assert API_KEY.search("key sk_portal_" + "x" * 43)
    assert not API_KEY.search("prefix sk_portal_ab")
    assert STRIPE_SECRET.search("key=sk_test_portal_localstripe")
    assert STRIPE_SECRET.search("pk_live_abcdefgh12")
    assert STRIPE_SECRET.search("x seti_1AbC_secret_Zz9 y")
    assert STRIPE_SECRET.search("pi_3Mz_secret_abc")
    assert not STRIPE_SECRET.search("pi_3MzAbcDef seti_1AbC cus_ABC pm_XYZ whsec_")


def database_texts(db) -> list[tuple[str, str]]:
    """(table.column#rowid, text) for every non-empty value of every column of every table."""
    texts = []
    tables = db.table_names()
    assert {"auditevent", "authsession", "logintoken", "outboxemail", "apikey"} <= set(tables)
    for table in tables:
        for row in db.rows(f'SELECT rowid AS rowid_, * FROM "{table}"'):
            rowid = row.pop("rowid_")
            for column, value in row.items():
                if value is None:
                    continue
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                if text:
                    texts.append((f"{table}.{column}#{rowid}", text))
    return texts


def test_no_secrets_or_card_numbers_in_database_or_log(running_app, db, api_key, staff_admin):
    app = running_app
    # Whatever ran before, this test has secrets of every kind to look for.
    status, data = create_portal_link(app, api_key, db.customer_id("nikos@example.com"))
    assert status == 201
    remember_secret("link_token", token_of(data["url"]))
    remember_secret("session_id", redeem_over_http(app, data["url"]))
    kinds = {kind for kind, _ in SEEN_SECRETS}
    assert {"link_token", "session_id", "api_key", "password"} <= kinds, kinds

    sources = database_texts(db)
    log = app.log_path.read_text(errors="replace")
    assert "App running at" in log
    sources.append(("server log", log))
    assert len(sources) > 500
    # The servers some modules started for themselves (`own_app`), stopped by now.
    for n, other in enumerate(OTHER_APPS, 1):
        other_db = AppDB(other)
        try:
            sources += [(f"server {n}: {where}", text) for where, text in database_texts(other_db)]
        finally:
            other_db.engine.dispose()
        sources.append((f"server {n} log", other.log_path.read_text(errors="replace")))

    problems = []
    for where, text in sources:
        for kind, secret in SEEN_SECRETS:
            if secret in text:
                problems.append(f"{where}: raw {kind} {mask(secret)}")
        for number in card_numbers(text):
            problems.append(f"{where}: card number {number[:6]}…{number[-4:]}")
        for key in API_KEY.findall(text):
            problems.append(f"{where}: API key {mask(key)}")
        for key in STRIPE_SECRET.findall(text):
            problems.append(f"{where}: Stripe key or client secret {mask(key)}")
    assert problems == [], "\n".join(problems[:50])


def test_link_mail_is_sealed_at_rest(running_app, db):
    query = "SELECT kind, body FROM outboxemail WHERE kind IN ('magic_link', 'email_change')"
    if not db.rows(query):  # this file ran alone: ask for one link, as the sign-in form does

        async def ask():
            client = RawClient(running_app.base_url)
            try:
                await client.connect("/login")
                await client.call(
                    f"{LOGIN_STATE}.request_link", "/login", form_data={"email": "sam@example.com"}
                )
            finally:
                await client.close()

        run_async(ask)
    mails = db.rows(query)
    assert mails, "no sign-in mail in the outbox"
    for mail in mails:
        assert mail["body"].startswith("sealed:v1:"), mail["kind"]
        assert "/auth/verify" not in mail["body"]
