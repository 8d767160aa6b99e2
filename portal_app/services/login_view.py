"""The sign-in form's two halves of a link request (public, so each opens its own unit of work):
`admit` runs the same work for every address before the page answers (its form, the limits,
the portal's merchant); `follow_up` runs after the answer (the refusal's tally, or the link if
the address is a customer's)."""

from __future__ import annotations

from dataclasses import dataclass

from portal_app.clock import Clock
from portal_app.db import read_scope, session_scope
from portal_app.services import audit, auth, magic_links, ratelimit, refusals


@dataclass(frozen=True)
class Admitted:
    address: str
    decision: ratelimit.Decision
    merchant_id: int | None


def admit(email: str, actor: audit.Actor) -> Admitted:
    """Before the answer, the same for every address: its form, the limits, the merchant."""
    address = auth.normalize_email(email)
    decision = ratelimit.get_limiter().hit(
        ("link_email", address), ("link_ip_minute", actor.ip), ("link_ip_hour", actor.ip)
    )
    with read_scope() as session:
        merchant_id = auth.portal_merchant_id(session)
    return Admitted(address, decision, merchant_id)


def follow_up(clock: Clock, admitted: Admitted, next_path: str, actor: audit.Actor) -> None:
    """After the answer: the refusal's tally, or the link if the address is a customer's."""
    with session_scope() as session:
        if not admitted.decision.allowed:
            refusals.record(
                session,
                clock,
                merchant_id=admitted.merchant_id,
                action=refusals.THROTTLED,
                rule=f"link_request:{admitted.decision.rule}",
                ip=actor.ip,
                account=admitted.address if admitted.decision.rule == "link_email" else "",
            )
            return
        magic_links.request_login_link(
            session,
            clock,
            merchant_id=admitted.merchant_id,
            email=admitted.address,
            return_to=next_path,
            actor=actor,
        )
