"""Customer magic links: 256-bit tokens stored as HMAC-SHA256, 15 minutes, single use, redeemed
atomically. A sign-in link, a support or API portal link and an email change's confirmation link
all open a session here (services.auth); the change's undo link is services.email_change's."""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlmodel import Session, select

from portal_app.clock import Clock
from portal_app.models import Customer, LoginToken
from portal_app.services import audit, auth, mailer
from portal_app.services.auth import (
    LINK_TTL,
    SIGN_IN_PURPOSES,
    AuthError,
    SignIn,
    as_customer,
    keyed_hash,
    masked,
    normalize_email,
    safe_return_path,
)


def verify_link(token: str) -> str:
    """The link a customer's mail carries: its page confirms before anything is used."""
    return auth.token_link("/auth/verify", token)


def request_login_link(
    session: Session,
    clock: Clock,
    *,
    merchant_id: int,
    email: str,
    return_to: str,
    actor: audit.Actor,
) -> str | None:
    """Queue a sign-in link if the email belongs to a customer. The caller answers the same way
    either way; the raw token is returned only so tests can follow the link."""
    address = normalize_email(email)
    customer = session.exec(
        select(Customer).where(Customer.merchant_id == merchant_id, Customer.email == address)
    ).first()
    if customer is None:
        audit.record(
            session,
            clock,
            merchant_id=merchant_id,
            actor=actor,
            action="auth.link_requested",
            target_type="email",
            target_id=masked(address),
            result="unknown_email",
        )
        return None
    token = issue_token(
        session, clock, customer=customer, purpose="login", return_to=return_to, ttl=LINK_TTL
    )
    link = verify_link(token)
    mailer.queue(
        session,
        clock,
        customer=customer,
        kind="magic_link",
        subject="Your sign-in link",
        body=(
            f"Hello {customer.name or customer.email},\n\n"
            f"Use this link to sign in to your billing portal. It works once and expires in "
            f"{int(LINK_TTL.total_seconds() // 60)} minutes:\n\n{link}\n\n"
            "If you did not ask for it, you can ignore this email."
        ),
    )
    audit.record_for_customer(session, clock, customer, actor=actor, action="auth.link_requested")
    return token


def issue_token(
    session: Session,
    clock: Clock,
    *,
    customer: Customer,
    purpose: str,
    return_to: str,
    ttl: timedelta,
    new_email: str | None = None,
    return_url: str | None = None,
    acting_staff_id: int | None = None,
    void_older: bool = True,
) -> str:
    """A fresh token voids the customer's older unused ones of the same purpose (unless
    `void_older` is False: a new email change must not void the last one's cancel link)."""
    now = clock.now()
    if void_older:
        auth.void_unused(
            session,
            now,
            LoginToken,
            LoginToken.customer_id == customer.id,
            LoginToken.purpose == purpose,
        )
    token = secrets.token_urlsafe(32)
    session.add(
        LoginToken(
            merchant_id=customer.merchant_id,
            customer_id=customer.id,
            email=customer.email,
            token_hash=keyed_hash(token),
            purpose=purpose,
            new_email=new_email,
            return_to=safe_return_path(return_to),
            return_url=return_url,
            created_at=now,
            expires_at=now + ttl,
            acting_staff_id=acting_staff_id,
        )
    )
    session.flush()
    return token


def claim_token(
    session: Session, clock: Clock, token: str, *, purposes: tuple[str, ...]
) -> LoginToken | None:
    """Use a token of one of `purposes` once: the conditional UPDATE … RETURNING lets exactly
    one of any number of concurrent uses through; None for the others and for a bad token."""
    used = auth.claim_once(
        session,
        clock,
        LoginToken,
        token,
        LoginToken.purpose.in_(purposes),
        returning=LoginToken.id,
    )
    return None if used is None else session.get(LoginToken, used[0])


def peek_token(session: Session, clock: Clock, token: str) -> LoginToken | None:
    """What a link would do, without using it (GET and HEAD never sign anyone in)."""
    if not auth.plausible_token(token):
        return None
    row = session.exec(select(LoginToken).where(LoginToken.token_hash == keyed_hash(token))).first()
    if row is None or row.used_at is not None or row.expires_at <= clock.now():
        return None
    return row


def redeem_login_token(
    session: Session, clock: Clock, *, token: str, merchant_id: int, actor: audit.Actor
) -> SignIn:
    """Use a link once. The conditional UPDATE … RETURNING lets exactly one of any number of
    concurrent redemptions through; the others see 'already used or expired'."""
    row = claim_token(session, clock, token, purposes=SIGN_IN_PURPOSES)
    if row is None:
        raise auth.refuse_link(
            session, clock, merchant_id=merchant_id, rule="bad_token", ip=actor.ip
        )
    customer = session.get(Customer, row.customer_id)
    if row.purpose == "email_change":
        _apply_email_change(session, clock, customer, row.new_email, actor)
    auth_session, sid = auth.open_session(
        session,
        clock,
        merchant_id=row.merchant_id,
        role="customer",
        customer_id=customer.id,
        actor=actor,
        return_url=row.return_url,
        acting_staff_id=row.acting_staff_id,
    )
    signed, via = as_customer(actor, customer.id), {"via": row.purpose}
    if row.acting_staff_id is not None:
        signed = audit.Actor.acting(
            row.acting_staff_id, customer.id, ip=actor.ip, user_agent=actor.user_agent
        )
        via["acting_staff_id"] = row.acting_staff_id
    audit.record(
        session,
        clock,
        merchant_id=row.merchant_id,
        actor=signed,
        action="auth.sign_in",
        target_type="session",
        target_id=auth_session.id,
        customer_id=customer.id,
        after=via,
    )
    return SignIn(sid, auth_session, row.return_to)


def _apply_email_change(session, clock, customer: Customer, new_email: str, actor) -> None:
    """An email change's confirmation link: the new address replaces the old one and every
    session (and unused link) of the customer ends."""
    taken = session.exec(
        select(Customer.id).where(
            Customer.merchant_id == customer.merchant_id, Customer.email == new_email
        )
    ).first()
    if taken is not None:
        raise AuthError("That email address is already in use.")
    with audit.changing(
        session,
        clock,
        customer,
        actor=as_customer(actor, customer.id),
        action="profile.email_changed",
        snapshot=lambda row: {"email": row.email},
        target_type="customer",
        customer_id=customer.id,
    ):
        customer.email = new_email
        session.add(customer)
        auth.revoke_all(session, clock, customer_id=customer.id, actor=actor, reason="email_change")
