"""Asking for a sign-in link answers before anything depends on whether the address is known
(R1.7): the lookup, the link and its mail come after the answer, outside the tab's lock."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from portal_app.models import OutboxEmail
from portal_app.services import magic_links, ratelimit
from portal_app.state import LoginState
from tests.statekit import root_with, run

REQUEST_LOGIN_LINK = magic_links.request_login_link


@pytest.fixture(autouse=True)
def _fresh_limits():
    ratelimit.reset_singletons()
    yield
    ratelimit.reset_singletons()


def _ask(email: str, monkeypatch) -> tuple[list[tuple[bool, str]], LoginState]:
    """Run the handler; returns what the page showed when the lookup began, and the state."""
    seen = []

    def watched(*args, **kwargs):
        seen.append((state.sent, state.error))
        return REQUEST_LOGIN_LINK(*args, **kwargs)

    monkeypatch.setattr(magic_links, "request_login_link", watched)

    async def scenario():
        nonlocal state
        state = await root_with(None).get_state(LoginState)
        async for _ in LoginState.request_link.fn(state, {"email": email}):
            pass
        return state

    state = None
    return seen, run(scenario())


def test_the_answer_comes_before_the_lookup_and_is_the_same(app_db, monkeypatch):
    assert LoginState.event_handlers["request_link"].is_background  # no tab lock held
    before = _mails(app_db["engine"])
    known_seen, known = _ask("alice@example.com", monkeypatch)
    unknown_seen, unknown = _ask("nobody@example.com", monkeypatch)
    assert known_seen == unknown_seen == [(True, "")]  # already answered when the lookup ran
    assert (known.sent, known.error, known.submitting) == (True, "", False)
    assert (unknown.sent, unknown.error, unknown.submitting) == (True, "", False)
    mails = _mails(app_db["engine"])
    assert mails.count("alice@example.com") == before.count("alice@example.com") + 1
    assert "nobody@example.com" not in mails


def _mails(engine) -> list[str]:
    with Session(engine) as session:
        return [m.to_address for m in session.exec(select(OutboxEmail))]


def test_a_bad_address_and_a_throttled_one_still_get_their_message(app_db, monkeypatch):
    _, bad = _ask("not an address", monkeypatch)
    assert (bad.sent, bad.error) == (False, "Enter a valid email address.")
    for _ in range(3):
        _ask("alice@example.com", monkeypatch)
    _, throttled = _ask("alice@example.com", monkeypatch)
    assert not throttled.sent and "Too many attempts" in throttled.error
