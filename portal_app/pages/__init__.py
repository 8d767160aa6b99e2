"""Page components. Routes and on_load handlers are registered in `portal_app.portal_app`."""

from portal_app.pages.auth_pages import login, mailbox, merchant_login
from portal_app.pages.landing import landing
from portal_app.pages.portal_pages import merchant_home, portal_home

__all__ = ["landing", "login", "mailbox", "merchant_home", "merchant_login", "portal_home"]
