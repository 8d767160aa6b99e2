"""Reflex state classes. Keep them thin: handlers read through `portal_app.db` and copy plain
values (dicts of strings) into vars; ORM objects never live in state."""

from portal_app.state.pricing import PricingState

__all__ = ["PricingState"]
