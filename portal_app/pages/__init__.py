"""Page components. Routes and on_load handlers are registered in `portal_app.portal_app`."""

from portal_app.pages.landing import landing

__all__ = ["landing"]
