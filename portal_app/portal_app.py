"""The Reflex app: `reflex run` imports `app` from here (app_name "portal_app")."""

import reflex as rx

from portal_app.pages import landing
from portal_app.state import PricingState

app = rx.App()
app.add_page(
    landing,
    route="/",
    title="Plans and pricing · Portal",
    description="Plans and prices",
    on_load=PricingState.load,
)
