"""The catalog's products and plans: the lists, and the create forms for a product and for a plan
with its first prices (editing, prices and archiving go through the dialog and the confirmation).

A mixin of `MerchantCatalogState` (state/merchant_catalog.py), which brings `_clear_errors` and
`_done`."""

from __future__ import annotations

import reflex as rx

from portal_app.services import catalog_admin, catalog_view
from portal_app.services.catalog_view import Choice, PlanView, ProductView
from portal_app.services.errors import CatalogError
from portal_app.state.guard import guarded, read, write
from portal_app.state.merchant_catalog_editor import (
    checked,
    field,
    lines,
    money,
    posted,
    trial_days,
    whole,
)


class CatalogProductsMixin(rx.State, mixin=True):
    products: list[ProductView] = []
    plans: list[PlanView] = []
    product_choices: list[Choice] = []  # active products, for the new plan's product
    # What checkout sells, by plan / product id (catalog_overview.sale_terms): plan {"trial",
    # "public", "buy_link"}, product {"one_time", "shippable", "buy_link"}.
    plan_terms: dict[str, dict[str, str]] = {}
    product_terms: dict[str, dict[str, str]] = {}
    product_error: str = ""
    plan_error: str = ""

    @rx.event
    @guarded("staff", staff_role="admin", error="product_error")
    def create_product(self, form_data: dict):
        form = posted(form_data)
        self._clear_errors()
        currency = read(catalog_view.currency)
        product = write(
            catalog_admin.create_product,
            name=field(form, "name"),
            description=field(form, "description"),
            one_time_amount=money(form, "one_time_amount", "One-time price", currency),
            shippable=checked(form, "shippable"),
        )
        return self._done(f'Product "{product.name}" created.')

    @rx.event
    @guarded("staff", staff_role="admin", error="plan_error")
    def create_plan(self, form_data: dict):
        form = posted(form_data)
        self._clear_errors()
        product_id = whole(form, "product_id", "Product")
        if product_id is None:
            raise CatalogError("Choose a product.")
        currency = read(catalog_view.currency)
        plan = write(
            catalog_admin.create_plan,
            product_id=product_id,
            name=field(form, "name"),
            description=field(form, "description"),
            features=lines(form, "features"),
            tier=whole(form, "tier", "Tier"),
            monthly_amount=money(form, "monthly", "Monthly price", currency),
            annual_amount=money(form, "annual", "Annual price", currency),
            trial_days=trial_days(form),
            trial_requires_card=checked(form, "trial_requires_card"),
            public=checked(form, "public"),
        )
        return self._done(f'Plan "{plan.name}" created. Customers can choose it now.')
