"""The profile page's reads and its two email actions as one unit of work each: the form (the
customer's own values, what the merchant lets them edit, custom field definitions, which email
section shows) and the email change / sign-in-again requests, whose throttle refusal is tallied
and committed with the request."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from portal_app.clock import Clock
from portal_app.models import Customer
from portal_app.services import audit, email_change, profile, ratelimit


@dataclass
class CustomField:
    key: str = ""
    label: str = ""
    type: str = ""
    options: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileForm:
    name: str
    email: str
    billing: dict[str, str]
    shipping: dict[str, str]
    editable: dict[str, bool]
    fields: list[CustomField]
    values: dict[str, str]
    email_gate: str  # email_change.OPEN, STAFF_ACTING_GATE or REAUTH_GATE


def profile_form(
    session: Session, clock: Clock, *, customer_id: int, merchant_id: int, session_row_id: int
) -> ProfileForm:
    customer = session.get(Customer, customer_id)
    return ProfileForm(
        name=customer.name,
        email=customer.email,
        billing={k: str(v) for k, v in (customer.billing_address or {}).items()},
        shipping={k: str(v) for k, v in (customer.shipping_address or {}).items()},
        editable=profile.editable_parts(session, merchant_id),
        fields=[
            CustomField(
                key=definition.get("key", ""),
                label=definition.get("label", ""),
                type=definition.get("type", ""),
                options=list(definition.get("options", [])),
            )
            for definition in profile.field_definitions(session, merchant_id)
        ],
        values={k: "" if v is None else str(v) for k, v in (customer.custom_fields or {}).items()},
        email_gate=email_change.email_change_status(
            session, clock, customer_id=customer_id, session_row_id=session_row_id
        ),
    )


def _throttle_message(send, session: Session, clock: Clock, **arguments) -> str:
    """Run one of `email_change`'s senders with the process-wide limiter: "" when sent, or the
    throttle refusal's message (its tally commits with this unit of work)."""
    try:
        send(session, clock, limiter=ratelimit.get_limiter(), **arguments)
    except email_change.Throttled as exc:
        return str(exc)
    return ""


def request_email_change(
    session: Session,
    clock: Clock,
    *,
    customer_id: int,
    session_row_id: int,
    new_email: str,
    actor: audit.Actor,
) -> str:
    """`email_change.request_email_change`; "" when sent, or the throttle refusal's message."""
    return _throttle_message(
        email_change.request_email_change,
        session,
        clock,
        customer_id=customer_id,
        session_row_id=session_row_id,
        new_email=new_email,
        actor=actor,
    )


def send_reauth_link(
    session: Session, clock: Clock, *, customer_id: int, session_row_id: int, actor: audit.Actor
) -> str:
    """`email_change.send_reauth_link`; "" when sent, or the throttle refusal's message."""
    return _throttle_message(
        email_change.send_reauth_link,
        session,
        clock,
        customer_id=customer_id,
        session_row_id=session_row_id,
        actor=actor,
    )
