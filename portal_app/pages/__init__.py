"""Page components. Routes and on_load handlers are registered in `portal_app.portal_app`."""

from portal_app.pages.dev_mailbox import mailbox
from portal_app.pages.login import login, merchant_login
from portal_app.pages.merchant_home import merchant_home
from portal_app.pages.portal_home import portal_home
from portal_app.pages.pricing import landing

__all__ = ["landing", "login", "mailbox", "merchant_home", "merchant_login", "portal_home"]
