"""The server is the only judge of who is asking.

Every Reflex event handler that reads or changes customer or merchant data is wrapped in
`@guarded(role, feature=...)`. At every call the guard re-derives the session from this
connection's cookie header (captured server-side by the socket, never sent to the browser) — the
customer cookie for a customer guard, the staff cookie for a staff guard, never the other — checks
it in the database (revoked? idle or absolute timeout? of this role?), checks the feature toggle,
and exposes the result as `current()` for the handler. Nothing cached in state is trusted.

`SessionBindingMiddleware` runs before every event, hydrate included: private state is bound to
the session(s) that filled it — one binding per role — and all of it is wiped when this
connection's cookie of a bound role is a different one (or none), so a client that reuses a closed
tab's client token gets nothing back."""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import quote

import reflex as rx
from reflex.middleware import Middleware

from portal_app import routes
from portal_app.clock import SystemClock
from portal_app.db import read_scope, session_scope
from portal_app.http.common import ROLES, cookie_name, router_client_ip
from portal_app.services import audit, auth, features, refusals, staff_roles
from portal_app.services.errors import (
    FeatureDisabled,
    NotFound,
    PortalError,
    ServiceUnavailable,
)

log = logging.getLogger(__name__)
CLOCK = SystemClock()


@dataclass(frozen=True)
class Principal:
    role: str  # customer | staff
    merchant_id: int
    session_row_id: int
    customer_id: int | None
    staff_id: int | None
    actor: audit.Actor
    staff_role: str | None = None  # the member's role as read from the database at this call


_current: ContextVar[Principal | None] = ContextVar("portal_principal", default=None)


def current() -> Principal:
    principal = _current.get()
    if principal is None:
        raise RuntimeError("current() used outside a @guarded handler")
    return principal


def write(service, *args, **kwargs):
    """Run one service call as its own unit of work (committed when it returns, rolled back
    when it raises) for this handler's principal: see `_filled`."""
    with session_scope() as session:
        return service(session, CLOCK, *args, **_filled(service, kwargs))


def read(service, *args, **kwargs):
    """`write`'s read-only twin (never takes SQLite's write lock)."""
    with read_scope() as session:
        return service(session, CLOCK, *args, **_filled(service, kwargs))


def _filled(service, kwargs: dict) -> dict:
    """The keyword arguments a service takes from who is asking, filled in where the handler
    did not pass them: `actor`, `merchant_id`, the configured `gateway`, and a customer's own
    `customer_id` (always theirs, whatever the handler passed; a staff handler names the
    customer it acts on)."""
    names = _parameters(service)
    who = current()
    filled = dict(kwargs)
    if "actor" in names:
        filled.setdefault("actor", who.actor)
    if "merchant_id" in names:
        filled.setdefault("merchant_id", who.merchant_id)
    if "customer_id" in names and who.role == "customer":
        filled["customer_id"] = who.customer_id  # a customer acts only as themself
    if "gateway" in names and "gateway" not in filled:
        from portal_app.services.gateway import configured_gateway

        filled["gateway"] = configured_gateway()
    return filled


@functools.cache
def _parameters(service) -> frozenset[str]:
    return frozenset(inspect.signature(service).parameters)


class SessionState(rx.State):
    """Who this tab is signed in as, for display; the bindings live in backend-only vars (the
    keyed hash of the customer / staff session id whose guarded handlers filled private state)."""

    _bound_customer_sid_hash: str = ""
    _bound_staff_sid_hash: str = ""
    signed_in: bool = False
    role: str = ""
    display_name: str = ""
    # The staff member's role as the last staff guard read it, so pages can hide what it
    # can't use; display only (the guard reads the role from the database at every call).
    staff_role: str = ""


class PrivateState(rx.State):
    """Base of every state that holds a signed-in person's data; wiped on a session mismatch."""


class Refreshing(rx.State, mixin=True):
    """For a page that shows what its state's `_refresh` reads; mix in before the state's base
    (`class X(Refreshing, PrivateState)`)."""

    def _refresh(self) -> None:
        raise NotImplementedError(f"{type(self).__name__} defines _refresh")

    def _changed(self, message: str):
        """What a handler returns after its write: the page read again, and a toast saying what
        changed."""
        self._refresh()
        return rx.toast.success(message)


def _binding(role: str) -> str:
    """The SessionState attribute that holds the binding for `role`."""
    return f"_bound_{role}_sid_hash"


def session_id_of(state: rx.State, role: str) -> str | None:
    """The session id in this connection's cookie for `role` (customer or staff), or None."""
    header = state.router.headers.cookie or ""
    if not header:
        return None
    try:
        jar = SimpleCookie()
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(cookie_name(role))
    return morsel.value if morsel else None


def actor_of(state: rx.State, principal_type: str = "anonymous", ident: str = "") -> audit.Actor:
    return audit.Actor(
        principal_type,
        ident,
        ip=router_client_ip(state.router),  # the same rule as the HTTP routes'
        user_agent=(state.router.headers.user_agent or "")[:300],
    )


async def wipe_private(root: rx.State) -> None:
    """Reset every private state and both bindings (sign-out, timeout, another session's token)."""
    for cls in _private_state_classes():
        substate = await root.get_state(cls)
        substate.reset()
    session_state = await root.get_state(SessionState)
    session_state.reset()
    for role in ROLES:
        setattr(session_state, _binding(role), "")


def _private_state_classes() -> list[type[rx.State]]:
    found, stack = [], list(PrivateState.get_substates())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.get_substates())
    return found


def guarded(
    role: str,
    feature: str | None = None,
    *,
    staff_role: str | None = None,
    error: str | None = None,
):
    """Mark and wrap an event handler: session of `role` required, `feature` must be on, and
    for staff a role of at least `staff_role` (services.staff_roles). Every staff handler
    declares one: a missing role fails at import, not at the first forged call.

    A service's refusal (`PortalError`) becomes a toast, or with `error="var"` the inline
    message in that state var (cleared when the handler starts). `NotFound` and
    `FeatureDisabled` are always a counted refusal with a toast: a forged id never reads as a
    form error."""
    if role not in ("customer", "staff"):
        raise ValueError(role)
    if role == "staff" and staff_role is None:
        raise ValueError("a staff handler declares the lowest staff_role it needs")
    if staff_role is not None and (role != "staff" or staff_role not in staff_roles.STAFF_ROLES):
        raise ValueError(f"staff_role {staff_role!r} for a {role} handler")

    def decorate(handler):
        if inspect.isasyncgenfunction(handler) or inspect.isgeneratorfunction(handler):
            raise TypeError(f"{handler.__name__}: guarded handlers return, they do not yield")

        @functools.wraps(handler)
        async def wrapper(self, *args, **kwargs):
            try:
                principal, refusal = await _authenticate(self, role, feature, handler.__name__)
            except ServiceUnavailable as exc:  # database unreachable: say so, change nothing
                return rx.toast.error(str(exc))
            if refusal is not None:
                return refusal
            if role == "staff" and not staff_roles.allows(principal.staff_role, staff_role):
                _audit_denial(principal, handler.__name__, kwargs or args, "staff_role")
                return rx.toast.error(
                    f"Your role ({staff_roles.LABELS.get(principal.staff_role or '', 'none')}) "
                    f"can't do this; it needs {staff_roles.LABELS[staff_role]}."
                )
            token = _current.set(principal)
            if error is not None:
                setattr(self, error, "")
            try:
                if inspect.iscoroutinefunction(handler):
                    return await handler(self, *args, **kwargs)
                # A plain handler's database work runs in a worker thread (with this context,
                # so `current()` holds): the event loop keeps serving other tabs meanwhile.
                # This tab's state is locked by Reflex for the whole event, so nothing else
                # touches it while the thread does.
                return await asyncio.to_thread(handler, self, *args, **kwargs)
            except NotFound as exc:
                _audit_denial(principal, handler.__name__, kwargs or args, "not_found")
                return rx.toast.error(str(exc))
            except FeatureDisabled as exc:
                _audit_denial(principal, handler.__name__, kwargs or args, "feature_disabled")
                return rx.toast.error(str(exc))
            except PortalError as exc:
                if error is not None and not isinstance(exc, ServiceUnavailable):
                    setattr(self, error, str(exc))
                    return None
                return rx.toast.error(str(exc))
            except (ValueError, TypeError):
                # Forged or malformed arguments (ids that are not numbers, wrong types).
                log.warning("rejected malformed arguments for %s", handler.__name__)
                _audit_denial(principal, handler.__name__, {}, "malformed_arguments")
                return rx.toast.error("That request was not valid.")
            except Exception:
                log.exception("handler %s failed", handler.__name__)
                return rx.toast.error("Something went wrong. Please try again.")
            finally:
                _current.reset(token)

        wrapper._portal_guard = (role, feature)
        wrapper._portal_staff_role = staff_role
        return wrapper

    return decorate


async def _authenticate(state: rx.State, role: str, feature: str | None, name: str):
    sid = session_id_of(state, role)
    seen_from = actor_of(state)
    principal, ended, disabled = await asyncio.to_thread(
        _check_session, sid, role, feature, seen_from
    )
    return await _bind(state, role, sid, principal, ended, disabled, name)


def _check_session(sid: str | None, role: str, feature: str | None, seen_from: audit.Actor):
    """The database half of the guard (run in a worker thread): the session behind `sid`, or
    why there is none, and whether `feature` is off."""
    principal = ended = disabled = None
    with session_scope() as session:
        try:
            row = auth.load_session(session, CLOCK, sid, role=role)
        except auth.SessionEnded as exc:
            ended = exc  # an expiry is audited and committed with this unit of work
        else:
            principal = Principal(
                role=role,
                merchant_id=row.merchant_id,
                session_row_id=row.id,
                customer_id=row.customer_id,
                staff_id=row.staff_id,
                staff_role=row.staff_role,
                actor=(
                    # a support link's session: the staff member, acting for the customer
                    audit.Actor.acting(
                        row.acting_staff_id,
                        row.customer_id,
                        ip=seen_from.ip,
                        user_agent=seen_from.user_agent,
                    )
                    if row.acting_staff_id is not None
                    else audit.Actor(
                        role if role == "customer" else "merchant",
                        str(row.customer_id if role == "customer" else row.staff_id),
                        ip=seen_from.ip,
                        user_agent=seen_from.user_agent,
                    )
                ),
            )
            if feature is not None and not row.settings.enabled(feature):
                disabled = FeatureDisabled(
                    f"{features.FEATURES[feature].label} is not available in this portal."
                )
    return principal, ended, disabled


async def _bind(state: rx.State, role, sid, principal, ended, disabled, name: str):
    """The state half of the guard (on the event loop): wipe or bind private state."""
    root = state._get_root_state()
    if ended is not None:
        await wipe_private(root)
        target = routes.MERCHANT_LOGIN if role == "staff" else routes.LOGIN
        page = state.router.page.path or "/"
        return None, rx.redirect(f"{target}?reason={ended.reason}&next={quote(page)}")
    session_state = await root.get_state(SessionState)
    sid_hash = auth.keyed_hash(sid)
    bound = getattr(session_state, _binding(role))
    if bound != sid_hash:
        if bound:  # state filled under another session of this role: none of it stays
            await wipe_private(root)
        # Unbound: nothing was loaded under this role since the last wipe, so the other
        # role's data (a tab that shows both) may stay; it keeps its own binding.
        setattr(session_state, _binding(role), sid_hash)
    session_state.signed_in = True
    session_state.role = role
    if role == "staff":
        session_state.staff_role = principal.staff_role or ""
    if disabled is not None:
        _audit_denial(principal, name, {}, "feature_disabled")
        return None, rx.toast.error(str(disabled))
    return principal, None


def _audit_denial(principal: Principal, handler: str, arguments, reason: str) -> None:
    """Tallied per principal, reason and handler a minute (services.refusals), not chained: a
    client forging events in a loop must not grow the audit chain by one event per call."""
    with session_scope() as session:
        refusals.record(
            session,
            CLOCK,
            merchant_id=principal.merchant_id,
            action=refusals.DENIED,
            rule=f"{reason}:{handler}",
            principal=f"{principal.actor.type}:{principal.actor.id}",
            ip=principal.actor.ip,
            sample={"arguments": _safe_arguments(arguments)},
        )


def _safe_arguments(arguments) -> dict:
    """Only ids and short scalars go into the audit trail, never free text or card data."""
    items = arguments.items() if isinstance(arguments, dict) else enumerate(arguments)
    safe = {}
    for key, value in items:
        if isinstance(value, int) or (
            isinstance(value, str) and value.isdigit() and len(value) < 12
        ):
            safe[str(key)] = value
    return safe


class SessionBindingMiddleware(Middleware):
    """Before every event: for each role the state is bound to, this connection must carry that
    role's cookie with the same session; otherwise all private state is wiped."""

    async def preprocess(self, app, state, event):
        root = state._get_root_state() if hasattr(state, "_get_root_state") else state
        session_state = await root.get_state(SessionState)
        for role in ROLES:
            bound = getattr(session_state, _binding(role))
            if not bound:
                continue
            sid = session_id_of(root, role)
            if not sid or auth.keyed_hash(sid) != bound:
                await wipe_private(root)
                break
        return None
