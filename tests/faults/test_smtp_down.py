"""The mail server is down while a customer asks for a sign-in link: the customer gets the usual
answer (mail goes through the outbox, never sent during the request), the message waits in the
outbox, and `portal deliver-mail` sends it exactly once when the server is back."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from sqlmodel import Session, select

from portal_app.models import AuthSession, OutboxEmail
from portal_app.services import audit, magic_links
from portal_app.state.login import SENT
from tests.faults.support import CLOCK, portal_cli, seed_site, submit_login_form


def _outbox(site) -> list[OutboxEmail]:
    with Session(site.engine) as session:
        return list(session.exec(select(OutboxEmail).order_by(OutboxEmail.id)))


def test_link_requested_while_smtp_is_down_is_delivered_once_when_it_returns(
    tmp_path, use_app_db, smtp_server
):
    site = seed_site(f"sqlite:///{tmp_path / 'app.db'}")
    use_app_db(site.url)
    mail_env = {
        "PORTAL_DB_URL": site.url,
        "PORTAL_SMTP_HOST": "127.0.0.1",
        "PORTAL_SMTP_PORT": str(smtp_server.port),
    }
    smtp_server.start()
    assert smtp_server.accepting()
    smtp_server.stop()  # the mail server goes down
    assert not smtp_server.accepting()

    form = submit_login_form("Zoe@Example.com ")
    # what the page shows: the usual confirmation, no error, the button no longer spinning
    assert (form.sent, form.error, form.submitting) == (True, "", False)
    assert "a sign-in link is on its way" in SENT
    [queued] = _outbox(site)
    assert (queued.kind, queued.to_address, queued.status) == ("magic_link", site.email, "queued")
    assert "token=" not in queued.body  # stored sealed

    down = portal_cli("deliver-mail", env=mail_env)
    assert down.returncode == 0, down.stderr
    assert down.stdout.strip() == "mail: 0 sent, 1 failed (will retry)"
    [waiting] = _outbox(site)
    assert (waiting.status, waiting.attempts) == ("queued", 1)
    assert waiting.last_error == "ConnectionRefusedError"
    assert waiting.body == queued.body  # kept, still sealed, for the next run
    assert smtp_server.received == []

    smtp_server.start()  # back
    back = portal_cli("deliver-mail", env=mail_env)
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == "mail: 1 sent, 0 failed (will retry)"
    again = portal_cli("deliver-mail", env=mail_env)
    assert again.stdout.strip() == "mail: 0 sent, 0 failed (will retry)"

    [(sender, recipients, message)] = smtp_server.received  # exactly one message
    assert (sender, recipients, message["To"]) == ("portal@localhost", [site.email], site.email)
    assert message["Subject"] == "Your sign-in link"
    links = re.findall(r"http://localhost:3000/auth/verify\?token=[\w\-]+", message.get_content())
    assert len(links) == 1
    [sent] = _outbox(site)
    assert (sent.status, sent.attempts) == ("sent", 2) and sent.sent_at is not None
    assert "token=" not in sent.body  # the link is not kept once sent

    # the link that arrived late still signs the customer in, once
    token = parse_qs(urlsplit(links[0]).query)["token"][0]
    with Session(site.engine, expire_on_commit=False) as session:
        signed_in = magic_links.redeem_login_token(
            session, CLOCK, token=token, merchant_id=site.merchant_id, actor=audit.SYSTEM
        )
        session.commit()
        assert signed_in.auth_session.customer_id == site.customer_id
        assert len(session.exec(select(AuthSession)).all()) == 1
