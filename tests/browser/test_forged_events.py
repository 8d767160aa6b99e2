"""Forged websocket events against the production build, sent with a bare socket.io client the
way an attacker would: any handler of any state, by its full name, with any arguments, with or
without a session cookie, with a stolen client token, from another origin.

The message format is the generated frontend's (`.web/utils/state.js`, see
`conftest.RawClient`); `test_frontend_speaks_the_protocol_we_forge` checks that it still is."""

from __future__ import annotations

import hashlib
import inspect
import json
import re

import aiohttp
import pytest
import socketio

from tests.browser.conftest import (
    COOKIE,
    MERCHANT_STATE,
    PORTAL_STATE,
    ROOT_STATE,
    SESSION_STATE,
    RawClient,
    add_session_cookie,
    create_portal_link,
    http_request,
    merged_delta,
    redirects,
    remember_secret,
    run_async,
    sent_events,
    staff_sign_in_over_http,
)

pytestmark = pytest.mark.browser

PRIVATE_PREFIX = "reflex___state____state.portal_app___state___guard____private_state."
LOGIN_PAGES = re.compile(r"^/(merchant/)?login\?reason=(missing|wrong_role)&next=")


# --- what the app has and what the build sent to browsers --------------------------------------


def app_states() -> list[type]:
    import reflex as rx

    import portal_app.state  # noqa: F401  (defines every state class)

    found, stack = [], list(rx.State.get_substates())
    while stack:
        cls = stack.pop()
        stack.extend(cls.get_substates())
        if cls.__module__.startswith("portal_app."):
            found.append(cls)
    return found


def guarded_handlers() -> list[tuple[str, str, str, list[str]]]:
    """(state full name, handler, role, parameter names) of every @guarded handler."""
    found = []
    for cls in app_states():
        for name, handler in cls.event_handlers.items():
            guard = getattr(handler.fn, "_portal_guard", None)
            if guard is not None:
                params = list(inspect.signature(handler.fn).parameters)[1:]
                found.append((cls.get_full_name(), name, guard[0], params))
    return sorted(found)


@pytest.fixture(scope="module")
def compiled_defaults(running_app) -> dict[str, dict]:
    """The initial state the build ships to every browser (utils/context.jsx)."""
    source = (running_app.web_dir / "utils" / "context.jsx").read_text()
    match = re.search(r"^export const initialState = (\{.*\})$", source, re.MULTILINE)
    assert match, "no initialState in the generated context.jsx"
    return json.loads(match.group(1))


def test_frontend_speaks_the_protocol_we_forge(running_app, compiled_defaults):
    """The raw client's assumptions, checked against this build's generated frontend."""
    web = running_app.web_dir
    state_js = (web / "utils" / "state.js").read_text()
    assert 'const TOKEN_KEY = "token";' in state_js  # sessionStorage key of the client token
    assert "query: { token }" in state_js
    assert 'socket.emit("event", ' in state_js
    assert "return { event: boot_event, state_schema: app.stateSchema };" in state_js
    assert json.loads((web / "env.json").read_text())["EVENT"].endswith("/_event")
    context = (web / "utils" / "context.jsx").read_text()
    assert f"ReflexEvent('{ROOT_STATE}.hydrate_and_load'" in context
    assert {PORTAL_STATE, MERCHANT_STATE, SESSION_STATE} <= set(compiled_defaults)
    pages = "".join(p.read_text() for p in (web / "app_components").rglob("*.jsx"))
    assert f'"{PORTAL_STATE}.pay_invoice", ({{ ["invoice_id"]' in pages


# --- ids of real rows that belong to other customers ---------------------------------------------


@pytest.fixture(scope="module")
def ids(db, running_app, api_key) -> dict:
    def one(sql, **params):
        value = db.scalar(sql, **params)
        assert value is not None, sql
        return value

    customer = {
        email.split("@")[0]: db.customer_id(email)
        for email in (
            *("zoe@example.com", "ada@example.com", "olga@example.com", "li@example.com"),
            *("ben@example.com", "sam@example.com", "maria@example.com", "nikos@example.com"),
        )
    }
    status, data = create_portal_link(running_app, api_key, customer["ben"])
    assert status == 201
    ben_sid = redeem(running_app, data["url"])
    return {
        "customer": customer,
        "ada_invoice": one(
            "SELECT id FROM invoice WHERE customer_id = :c AND status != 'draft' ORDER BY id",
            c=customer["ada"],
        ),
        "ada_card": one("SELECT id FROM paymentmethod WHERE customer_id = :c", c=customer["ada"]),
        "olga_spare_card": one(
            "SELECT id FROM paymentmethod WHERE customer_id = :c AND NOT is_default",
            c=customer["olga"],
        ),
        "file_asset": one("SELECT id FROM digitalasset WHERE kind = 'file'"),
        "license_asset": one("SELECT id FROM digitalasset WHERE kind = 'license'"),
        "ben_session": db.session_row(ben_sid)["id"],
        "ben_sub": one("SELECT id FROM subscription WHERE customer_id = :c", c=customer["ben"]),
        "sam_sub": one("SELECT id FROM subscription WHERE customer_id = :c", c=customer["sam"]),
        "maria_sub": one("SELECT id FROM subscription WHERE customer_id = :c", c=customer["maria"]),
        "nikos_receipt": one(
            "SELECT r.id FROM receipt r JOIN invoice i ON i.id = r.invoice_id "
            "WHERE i.customer_id = :c",
            c=customer["nikos"],
        ),
        "price": one("SELECT id FROM price ORDER BY id DESC"),
    }


def redeem(app, link: str) -> str:
    from tests.browser.conftest import redeem_over_http

    return redeem_over_http(app, link)


def forged_arguments(params: list[str], ids: dict) -> dict:
    """Real ids of other customers' rows for every parameter a handler takes."""
    by_name = {
        "invoice_id": ids["ada_invoice"],
        "payment_method_id": ids["olga_spare_card"],
        "asset_id": ids["file_asset"],
        "session_id": ids["ben_session"],
        "subscription_id": ids["maria_sub"],
        "receipt_id": ids["nikos_receipt"],
        "price_id": str(ids["price"]),
        "page": 2,
        "timing": "immediate",
        "preset": "saas",
    }
    form = {
        "invoice_id": ids["ada_invoice"],
        "card": str(ids["olga_spare_card"]),
        "subscription_id": ids["maria_sub"],
        "resume_on": "2030-01-01",
        "number": "4242424242424242",
        "expiry": "12/30",
        "cvc": "123",
        "make_default": True,
        "email": "mallory@example.com",
        "name": "Mallory",
        "reason": "too_expensive",
    }
    return {p: form if p == "form_data" else by_name.get(p, "1") for p in params}


def db_fingerprint(db, skip: dict[str, set[str]] | None = None) -> dict[str, str]:
    """A digest of every row of every table (minus the columns in `skip`)."""
    skip = skip or {}
    tables = db.table_names()
    digests = {}
    for table in tables:
        if skip.get(table) == {"*"}:
            continue
        rows = db.rows(f'SELECT * FROM "{table}"')
        # Row order is not part of the fingerprint (PostgreSQL has no rowid to order by).
        cleaned = sorted(
            ({k: v for k, v in row.items() if k not in skip.get(table, set())} for row in rows),
            key=repr,
        )
        digests[table] = hashlib.sha256(repr(cleaned).encode()).hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


def private_markers(db, except_customer: int | None = None) -> list[str]:
    """Strings that only a signed-in customer's own pages may show."""
    markers = ["/files/", "ACME-DEMO-", "sk_portal_", "data:application/pdf"]
    customers = db.rows("SELECT id, email, name FROM customer")
    for c in customers:
        if c["id"] == except_customer:
            continue
        markers += [c["email"], c["name"]]
        for inv in db.rows(
            "SELECT number FROM invoice WHERE customer_id = :c AND number IS NOT NULL", c=c["id"]
        ):
            markers.append(f"INV-{inv['number']:06d}")
        for card in db.rows("SELECT last4 FROM paymentmethod WHERE customer_id = :c", c=c["id"]):
            markers.append(f"•••• {card['last4']}")
    return markers


def leaks(messages: list[dict], markers: list[str]) -> list[str]:
    text = json.dumps(messages, ensure_ascii=False)
    return [m for m in markers if m in text]


def non_default_private_vars(messages: list[dict], defaults: dict[str, dict]) -> dict:
    """Private-state vars the server sent with a value other than the compiled default."""
    odd = {}
    for state, values in merged_delta(messages).items():
        if not (state.startswith(PRIVATE_PREFIX) or state == SESSION_STATE):
            continue
        for var, value in values.items():
            if value != defaults.get(state, {}).get(var):
                odd[f"{state.rsplit('.', 1)[-1]}.{var}"] = value
    return odd


# --- (a) no cookie: every guarded handler, with real ids ------------------------------------------


def test_every_guarded_handler_refuses_a_client_without_a_session(
    running_app, db, ids, compiled_defaults
):
    handlers = guarded_handlers()
    names = {(state.rsplit(".", 1)[-1], name) for state, name, _, _ in handlers}
    assert {
        ("portal_app___state___portal_home____portal_state", "pay_invoice"),
        ("portal_app___state___payment_methods____cards_state", "make_default"),
        ("portal_app___state___downloads____downloads_state", "download"),
        ("portal_app___state___portal_home____portal_state", "end_session"),
        ("portal_app___state___merchant_home____merchant_state", "load"),
    } <= names
    markers = private_markers(db)
    before = db_fingerprint(db)

    async def scenario():
        client = RawClient(running_app.base_url)
        answers = {}
        try:
            await client.connect("/portal")
            for state, name, _role, params in handlers:
                answers[f"{state}.{name}"] = await client.call(
                    f"{state}.{name}", "/portal", **forged_arguments(params, ids)
                )
        finally:
            await client.close()
        return client.received, answers

    received, answers = run_async(scenario)
    refused_badly = {
        handler: redirects(messages)
        for handler, messages in answers.items()
        if len(redirects(messages)) != 1 or not LOGIN_PAGES.match(redirects(messages)[0])
    }
    assert not refused_badly, f"handlers that did not send the caller to sign in: {refused_badly}"
    staff_redirects = {
        handler: redirects(answers[f"{state}.{name}"])[0]
        for state, name, role, _ in handlers
        if role == "staff"
        for handler in [f"{state}.{name}"]
    }
    assert all(p.startswith("/merchant/login?") for p in staff_redirects.values())
    assert changed_tables(before, db_fingerprint(db)) == []
    assert not [e for e in sent_events(received) if e.get("name") == "_download"]
    assert leaks(received, markers) == []
    assert non_default_private_vars(received, compiled_defaults) == {}


# --- (b) another customer's ids with a real session --------------------------------------------

# (acting customer, state attribute, handler, arguments built from ids, victim's row check)
CROSS_CUSTOMER = [
    ("zoe", PORTAL_STATE, "pay_invoice", lambda i: {"invoice_id": i["ada_invoice"]}),
    ("zoe", PORTAL_STATE, "end_session", lambda i: {"session_id": i["ben_session"]}),
    ("zoe", "CardsState", "make_default", lambda i: {"payment_method_id": i["olga_spare_card"]}),
    ("zoe", "CardsState", "remove", lambda i: {"payment_method_id": i["ada_card"]}),
    ("li", "DownloadsState", "download", lambda i: {"asset_id": i["file_asset"]}),
    ("li", "DownloadsState", "reveal_key", lambda i: {"asset_id": i["license_asset"]}),
    ("zoe", "InvoicesState", "download_pdf", lambda i: {"invoice_id": i["ada_invoice"]}),
    ("zoe", "InvoicesState", "download_receipt", lambda i: {"receipt_id": i["nikos_receipt"]}),
    ("zoe", "SubscriptionsState", "resume", lambda i: {"subscription_id": i["sam_sub"]}),
    ("zoe", "SubscriptionsState", "reactivate", lambda i: {"subscription_id": i["maria_sub"]}),
    (
        "zoe",
        "SubscriptionsState",
        "undo_scheduled_change",
        lambda i: {"subscription_id": i["ben_sub"]},
    ),
    (
        "zoe",
        "SubscriptionsState",
        "pause",
        lambda i: {"form_data": {"subscription_id": i["maria_sub"], "resume_on": ""}},
    ),
]


def full_name(state: str) -> str:
    if state.startswith("reflex___state"):
        return state
    return next(cls.get_full_name() for cls in app_states() if cls.__name__ == state)


@pytest.fixture(scope="module")
def customer_sids(running_app, api_key, ids) -> dict[str, str]:
    sids = {}
    for who in ("zoe", "li"):
        status, data = create_portal_link(running_app, api_key, ids["customer"][who])
        assert status == 201
        sids[who] = redeem(running_app, data["url"])
    return sids


@pytest.mark.parametrize(
    "actor,state,handler,arguments",
    CROSS_CUSTOMER,
    ids=[
        f"{'PortalState' if state == PORTAL_STATE else state}.{handler}"
        for _, state, handler, _ in CROSS_CUSTOMER
    ],
)
def test_other_customers_ids_are_refused_and_audited(
    running_app, db, ids, customer_sids, actor, state, handler, arguments
):
    actor_id = ids["customer"][actor]
    name = f"{full_name(state)}.{handler}"
    payload = arguments(ids)
    # The session cookie changes last_seen_at; the denial is written to the audit trail.
    skip = {
        "authsession": {"last_seen_at"},
        "auditevent": {"*"},
        "auditchainhead": {"*"},
        "refusaltally": {"*"},
    }
    denials = (
        "SELECT COALESCE(SUM(count), 0) FROM refusaltally"
        " WHERE action = 'authz.denied' AND rule = :r"
    )

    async def scenario():
        client = RawClient(running_app.base_url, cookie=customer_sids[actor])
        try:
            await client.connect("/")
            # The cookie works: this client is signed in as `actor`.
            mine = await client.call(f"{PORTAL_STATE}.load", "/portal")
            start, before = db.scalar(denials, r=f"not_found:{handler}"), db_fingerprint(db, skip)
            answer = await client.call(name, "/portal", **payload)
            return mine, start, before, answer
        finally:
            await client.close()

    mine, start, before, answer = run_async(scenario)
    own_name = db.scalar("SELECT name FROM customer WHERE id = :c", c=actor_id)
    assert merged_delta(mine)[PORTAL_STATE]["customer_name_rx_state_"] == own_name

    assert changed_tables(before, db_fingerprint(db, skip)) == []
    assert leaks(answer, private_markers(db, except_customer=actor_id)) == []
    assert not [e for e in sent_events(answer) if e.get("name") == "_download"]
    assert not [p for p in redirects(answer) if "/files/" in p]
    # denials are counted in the tally (services/refusals.py), keyed by principal and address
    denied = db.rows(
        "SELECT key_hint, count FROM refusaltally WHERE action = 'authz.denied' AND rule = :r",
        r=f"not_found:{handler}",
    )
    assert db.scalar(denials, r=f"not_found:{handler}") == start + 1, (
        f"{handler} with another customer's id was not counted as authz.denied exactly once"
    )
    assert any(row["key_hint"].startswith(f"customer:{actor_id} ") for row in denied)


# --- (c) setvar and the internal var updater set nothing -------------------------------------


def test_setvar_and_update_vars_cannot_set_private_or_session_vars(
    running_app, db, compiled_defaults
):
    before = db_fingerprint(db)
    forged = [
        (f"{PORTAL_STATE}.setvar", {"var_name": "customer_name", "value": "Mallory"}),
        (f"{PORTAL_STATE}.setvar", {"var_name": "loaded", "value": True}),
        (f"{SESSION_STATE}.setvar", {"var_name": "signed_in", "value": True}),
        (f"{SESSION_STATE}.setvar", {"var_name": "role", "value": "staff"}),
        (f"{SESSION_STATE}.setvar", {"var_name": "display_name", "value": "Mallory"}),
        (f"{SESSION_STATE}.setvar", {"var_name": "_bound_customer_sid_hash", "value": "x"}),
        (f"{SESSION_STATE}.setvar", {"var_name": "_bound_staff_sid_hash", "value": "x"}),
        (f"{MERCHANT_STATE}.setvar", {"var_name": "merchant_name", "value": "Mallory"}),
        (
            f"{ROOT_STATE}.reflex___state____update_vars_internal_state.update_vars_internal",
            {
                "vars": {
                    f"{SESSION_STATE}.signed_in": True,
                    f"{SESSION_STATE}.role": "staff",
                    f"{PORTAL_STATE}.customer_name": "Mallory",
                }
            },
        ),
    ]

    async def scenario():
        client = RawClient(running_app.base_url)
        try:
            await client.connect("/")
            for handler, payload in forged:
                await client.call(handler, "/", **payload)
            # A fresh hydrate returns the whole state as the server holds it now.
            await client.call(f"{ROOT_STATE}.hydrate_and_load", "/")
            snapshot_from = len(client.received)
            await client.call(f"{ROOT_STATE}.hydrate_and_load", "/")
            snapshot = client.received[snapshot_from:]
            # And a guarded handler still treats this client as signed out.
            guarded = await client.call(f"{PORTAL_STATE}.load", "/portal")
            return client.received, snapshot, guarded
        finally:
            await client.close()

    received, snapshot, guarded = run_async(scenario)
    assert "Mallory" not in json.dumps(received, ensure_ascii=False)
    state = merged_delta(snapshot)
    assert state[SESSION_STATE]["signed_in_rx_state_"] is False
    assert state[SESSION_STATE]["role_rx_state_"] == ""
    assert state[PORTAL_STATE]["customer_name_rx_state_"] == ""
    assert non_default_private_vars(received, compiled_defaults) == {}
    assert [LOGIN_PAGES.match(p) is not None for p in redirects(guarded)] == [True]
    assert changed_tables(before, db_fingerprint(db)) == []


# --- (d) a customer's cookie on staff handlers --------------------------------------------------

# How a session id is sent: as the cookie of its own role, or under the other role's cookie name
# (the staff guard reads only the staff cookie, and the session's role must match it too).
COOKIE_AS = {
    "own_cookie": ("cookie", "missing"),
    "under_the_staff_cookie_name": ("staff_cookie", "wrong_role"),
}


@pytest.mark.parametrize("sent_as", list(COOKIE_AS))
def test_customer_session_cannot_use_merchant_handlers(
    running_app, db, customer_sids, compiled_defaults, sent_as
):
    cookie_argument, reason = COOKIE_AS[sent_as]
    staff_handlers = [
        (state, name, params) for state, name, role, params in guarded_handlers() if role == "staff"
    ]
    assert any(state == MERCHANT_STATE and name == "load" for state, name, _ in staff_handlers)
    before = db_fingerprint(db, {"authsession": {"last_seen_at"}})
    form = {"branding.name": "Mallory Cloud", "security.idle_timeout_minutes": "240"}

    async def scenario():
        client = RawClient(running_app.base_url, **{cookie_argument: customer_sids["zoe"]})
        answers = {}
        try:
            await client.connect("/")
            for state, name, params in staff_handlers:
                payload = {p: form if p == "form_data" else "saas" for p in params}
                answers[name] = await client.call(f"{state}.{name}", "/merchant", **payload)
        finally:
            await client.close()
        return client.received, answers

    received, answers = run_async(scenario)
    for name, messages in answers.items():
        assert [p.split("&")[0] for p in redirects(messages)] == [
            f"/merchant/login?reason={reason}"
        ], name
    merchant = merged_delta(received).get(MERCHANT_STATE, {})
    assert merchant.get("merchant_name_rx_state_", "") == ""
    assert merchant.get("audit_status_rx_state_", "") == ""
    assert "Mallory" not in json.dumps(received, ensure_ascii=False)
    assert non_default_private_vars(received, compiled_defaults) == {}
    assert changed_tables(before, db_fingerprint(db, {"authsession": {"last_seen_at"}})) == []


# --- (e) a staff cookie on customer handlers -----------------------------------------------------


@pytest.fixture(scope="module")
def staff_sid(running_app, staff_admin) -> str:
    return staff_sign_in_over_http(running_app, staff_admin)


@pytest.mark.parametrize("sent_as", ["own_cookie", "under_the_customer_cookie_name"])
def test_staff_session_cannot_use_customer_handlers(
    running_app, db, ids, staff_sid, compiled_defaults, sent_as
):
    """A live staff session gets no customer's data, whichever cookie name it is sent under:
    the customer guard reads only the customer cookie and wants a customer session."""
    customer_handlers = [
        (state, name, params)
        for state, name, role, params in guarded_handlers()
        if role == "customer"
    ]
    assert any(state == PORTAL_STATE and name == "load" for state, name, _ in customer_handlers)
    cookies = {"staff_cookie": staff_sid} if sent_as == "own_cookie" else {"cookie": staff_sid}
    reason = "missing" if sent_as == "own_cookie" else "wrong_role"
    markers = private_markers(db)
    # The staff session's own dashboard load may move the audit checkpoint (services/audit.py).
    skip = {"authsession": {"last_seen_at"}, "auditcheckpoint": {"*"}}
    before = db_fingerprint(db, skip)

    async def scenario():
        client = RawClient(running_app.base_url, **cookies)
        answers = {}
        try:
            await client.connect("/")
            for state, name, params in customer_handlers:
                answers[name] = await client.call(
                    f"{state}.{name}", "/portal", **forged_arguments(params, ids)
                )
            # The same session under the customer cookie name is no staff session either.
            staff = await client.call(f"{MERCHANT_STATE}.load", "/merchant")
        finally:
            await client.close()
        return client.received, answers, staff

    received, answers, staff = run_async(scenario)
    for name, messages in answers.items():
        assert [p.split("&")[0] for p in redirects(messages)] == [f"/login?reason={reason}"], name
    merchant_name = merged_delta(staff).get(MERCHANT_STATE, {}).get("merchant_name_rx_state_")
    if sent_as == "own_cookie":  # control: the cookie is a live staff session
        assert merchant_name == "Acme Cloud"
    else:
        assert [p.split("&")[0] for p in redirects(staff)] == ["/merchant/login?reason=missing"]
        assert not merchant_name
        assert non_default_private_vars(received, compiled_defaults) == {}
    customer_answers = [m for messages in answers.values() for m in messages]
    assert non_default_private_vars(customer_answers, compiled_defaults) == {}
    assert leaks(customer_answers, markers) == []
    assert not [e for e in sent_events(received) if e.get("name") == "_download"]
    assert changed_tables(before, db_fingerprint(db, skip)) == []


# --- 9. a closed tab's client token, replayed ----------------------------------------------------


def test_replayed_client_token_without_the_cookie_gets_nothing(
    running_app, browser, db, api_key, ids, compiled_defaults
):
    app = running_app
    zoe = ids["customer"]["zoe"]
    context = browser.new_context()
    try:
        page = context.new_page()
        status, data = create_portal_link(app, api_key, zoe)
        assert status == 201
        page.goto(data["url"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(re.compile(rf"^{re.escape(app.base_url)}/?$"))
        sid = remember_secret(
            "session_id", next(c["value"] for c in context.cookies() if c["name"] == COOKIE)
        )
        page.goto(f"{app.base_url}/portal")
        page.get_by_test_id("greeting").wait_for()
        token = page.evaluate("window.sessionStorage.getItem('token')")
        assert re.fullmatch(r"[0-9a-f-]{36}", token or ""), token
    finally:
        context.close()
    zoe_markers = [
        "Zoë Ångström",
        "zoe@example.com",
        *[
            f"INV-{r['number']:06d}"
            for r in db.rows(
                "SELECT number FROM invoice WHERE customer_id = :c AND number IS NOT NULL", c=zoe
            )
        ],
        *[
            f"•••• {r['last4']}"
            for r in db.rows("SELECT last4 FROM paymentmethod WHERE customer_id = :c", c=zoe)
        ],
    ]
    before = db_fingerprint(db)

    cards_state, downloads_state = full_name("CardsState"), full_name("DownloadsState")

    async def replay():
        client = RawClient(app.base_url, token=token)  # no cookie
        try:
            await client.connect("/")
            await client.call(f"{ROOT_STATE}.hydrate_and_load", "/portal")
            await client.call(f"{PORTAL_STATE}.load", "/portal")
            for handler, payload in (
                (f"{PORTAL_STATE}.pay_invoice", {"invoice_id": ids["ada_invoice"]}),
                (
                    f"{cards_state}.make_default",
                    {"payment_method_id": ids["olga_spare_card"]},
                ),
                (f"{downloads_state}.download", {"asset_id": ids["file_asset"]}),
                (f"{PORTAL_STATE}.end_session", {"session_id": ids["ben_session"]}),
            ):
                await client.call(handler, "/portal", **payload)
            return client.received
        finally:
            await client.close()

    async def control():
        """The same token with Zoë's cookie: hydrating the landing page (no guarded on_load)
        returns her stored state, so the token really points at it."""
        client = RawClient(app.base_url, token=token, cookie=sid)
        try:
            await client.connect("/")
            return client.received
        finally:
            await client.close()

    stored = run_async(control)
    assert merged_delta(stored)[PORTAL_STATE]["customer_name_rx_state_"] == "Zoë Ångström"

    received = run_async(replay)
    assert leaks(received, zoe_markers) == []
    assert non_default_private_vars(received, compiled_defaults) == {}
    assert changed_tables(before, db_fingerprint(db)) == []
    assert len(redirects(received)) >= 5
    assert all(LOGIN_PAGES.match(p) for p in redirects(received))


# --- 10. CORS -------------------------------------------------------------------------------------


def test_other_origins_cannot_open_the_socket_or_read_responses(running_app):
    app = running_app
    evil = "https://evil.example"

    async def scenario():
        results = {}
        for origin in (evil, app.base_url):
            client = socketio.AsyncClient(reconnection=False)
            try:
                await client.connect(
                    f"{app.base_url}?token=cors-check",
                    socketio_path="/_event",
                    transports=["websocket"],
                    namespaces=["/_event"],
                    headers={"Origin": origin},
                    wait_timeout=10,
                )
                results[(origin, "socketio")] = client.connected
            except socketio.exceptions.ConnectionError:
                results[(origin, "socketio")] = False
            finally:
                if client.connected:
                    await client.disconnect()
            async with aiohttp.ClientSession() as http:
                try:
                    async with http.ws_connect(
                        f"{app.base_url}/_event/?EIO=4&transport=websocket",
                        headers={"Origin": origin},
                    ) as ws:
                        msg = await ws.receive(timeout=5)
                        results[(origin, "websocket")] = str(msg.data)[:1]  # "0" = open packet
                except aiohttp.WSServerHandshakeError as exc:
                    results[(origin, "websocket")] = exc.status
                async with http.get(
                    f"{app.base_url}/_event/?EIO=4&transport=polling", headers={"Origin": origin}
                ) as response:
                    results[(origin, "polling")] = (
                        response.status,
                        response.headers.get("Access-Control-Allow-Origin"),
                    )
        return results

    results = run_async(scenario)
    assert results[(evil, "socketio")] is False
    assert results[(evil, "websocket")] == 403
    assert results[(evil, "polling")][0] == 400
    assert results[(evil, "polling")][1] is None
    # The app's own origin connects (so the refusals above are about the origin).
    assert results[(app.base_url, "socketio")] is True
    assert results[(app.base_url, "websocket")] == "0"

    for path in ("/ping", "/api/v1/portal-sessions"):
        _, headers, _ = http_request(f"{app.base_url}{path}", headers={"Origin": evil})
        assert evil not in headers.get("access-control-allow-origin", []), path
        assert headers.get("access-control-allow-origin", []) in ([], [""]), path
        _, headers, _ = http_request(
            f"{app.base_url}{path}",
            "OPTIONS",
            headers={
                "Origin": evil,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert evil not in headers.get("access-control-allow-origin", []), path
    _, headers, _ = http_request(f"{app.base_url}/ping", headers={"Origin": app.base_url})
    assert headers.get("access-control-allow-origin") == [app.base_url]


def test_session_cookie_never_reaches_page_scripts_or_state(running_app, browser, sign_in_api):
    """The router headers Reflex copies into state must not carry the HttpOnly cookie."""
    app = running_app
    sid = sign_in_api("nikos@example.com")
    context = browser.new_context()
    try:
        add_session_cookie(context, app, sid)
        page = context.new_page()
        page.goto(f"{app.base_url}/portal")
        page.get_by_test_id("greeting").wait_for()
        assert sid not in page.evaluate("document.cookie")
        assert sid not in page.content()
    finally:
        context.close()

    async def scenario():
        client = RawClient(app.base_url, cookie=sid)
        try:
            await client.connect("/portal")
            return client.received
        finally:
            await client.close()

    received = run_async(scenario)
    text = json.dumps(received)
    assert "Νίκος" in json.dumps(received, ensure_ascii=False)  # signed in over this socket
    assert sid not in text
