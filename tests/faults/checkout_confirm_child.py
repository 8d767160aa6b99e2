"""A web worker's confirm, in a process of its own: `python -m tests.faults.checkout_confirm_child
<checkout_id> <stop_at>` runs CheckoutState.confirm as Reflex does (the form's data, the route's
id) against PORTAL_DB_URL. With `stop_at` other than "none", the process prints "STOPPED" once the
confirm reaches that step and then waits there, inside the confirm's open transaction, for the
test to SIGKILL it. Without a stop it prints "DONE" or "ERROR <message>"."""

from __future__ import annotations

import asyncio
import sys
import time

FORM = {
    "email": "kim@faults.test",
    "name": "Kim Killed",
    "number": "4242 4242 4242 4242",
    "expiry": "12/30",
    "cvc": "123",
}


def _stop_after(owner, name: str) -> None:
    """Wrap owner.name: the real step runs, then the process reports and waits to be killed."""
    real = getattr(owner, name)

    def stopped(*args, **kwargs):
        result = real(*args, **kwargs)
        print("STOPPED", flush=True)
        time.sleep(600)
        return result

    setattr(owner, name, stopped)


def _install_stop(stop_at: str) -> None:
    from portal_app.services import checkout
    from portal_app.services.sandbox_gateway import SandboxGateway

    steps = {
        # the new customer row is written (flushed), nothing bought yet
        "customer": (checkout, "customer_for"),
        # the gateway has charged the first invoice
        "charge": (SandboxGateway, "charge"),
        # the welcome mail is in the outbox: the last write before COMMIT
        "welcome": (checkout, "welcome"),
    }
    if stop_at != "none":
        _stop_after(*steps[stop_at])


async def _confirm(checkout_id: str):
    from portal_app.state.checkout import CheckoutState
    from tests.statekit import root_with, visit

    root = visit(root_with(None), "/checkout/[id]", id=checkout_id)
    state = await root.get_state(CheckoutState)
    async for _ in CheckoutState.confirm.fn(state, dict(FORM)):
        pass
    return state


def main() -> None:
    checkout_id, stop_at = sys.argv[1], sys.argv[2]
    _install_stop(stop_at)
    state = asyncio.run(_confirm(checkout_id))
    print(f"ERROR {state.form_error}" if state.form_error else "DONE", flush=True)


if __name__ == "__main__":
    main()
