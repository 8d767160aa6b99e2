"""The bill-to of an issued document: who an invoice or receipt was made out to, copied from the
customer when it is issued and never read from the live profile again.

An invoice is a legal record of a sale as it was made: a customer who moves, renames the company
or edits a custom field later must still get back the invoice they were sent. So finalization
(`invoices.finalize`, the bulk renewals in `renewals.py`) and payment (the receipt) store
`snapshot(...)` in the row's `bill_to` column, the immutability guards (`invoices.py`, `db.py`)
freeze it like the money, and the PDF (`documents/facts.py`) and the invoice page show only it.

A snapshot is a plain JSON document:

    {"name": "...", "email": "...", "billing_address": {...}, "shipping_address": {...},
     "custom_fields": [{"key": "vat_id", "label": "VAT ID", "value": "SE1234"}, ...]}

Custom fields are the merchant's definitions at issue time, in their order, with the label they
had then and only the ones that have a value (a definition removed later still shows); a
definition with `"on_invoice": false` stays off documents."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from portal_app.models import Customer, Invoice
from portal_app.services import features

ADDRESS_KEYS = ("company", "line1", "line2", "city", "state", "postal_code", "country")


def field_definitions(session: Session, merchant_id: int) -> list[dict[str, Any]]:
    return list(features.load(session, merchant_id)["profile.custom_field_definitions"])


def snapshot(customer: Customer, definitions: list[dict[str, Any]]) -> dict[str, Any]:
    """What the document shows about the customer, as of now (a new dict, safe to store)."""
    return snapshot_of(
        name=customer.name,
        email=customer.email,
        billing_address=customer.billing_address,
        shipping_address=customer.shipping_address,
        custom_fields=customer.custom_fields,
        definitions=definitions,
    )


def snapshot_of(
    *,
    name: str | None,
    email: str | None,
    billing_address: dict | None,
    shipping_address: dict | None,
    custom_fields: dict | None,
    definitions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The same from the customer's columns (the bulk renewals read them with their batch)."""
    values = custom_fields if isinstance(custom_fields, dict) else {}
    fields = []
    for definition in definitions:
        if not definition.get("on_invoice", True):  # a field the merchant keeps off documents
            continue
        value = values.get(definition.get("key"))
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str | int | float | bool):
            continue
        fields.append(
            {
                "key": str(definition["key"]),
                "label": str(definition.get("label") or definition["key"]),
                "value": value,
            }
        )
    return {
        "name": (name or "").strip(),
        "email": email or "",
        "billing_address": _address(billing_address),
        "shipping_address": _address(shipping_address),
        "custom_fields": fields,
    }


def snapshot_for(session: Session, customer_id: int, merchant_id: int) -> dict[str, Any]:
    customer = session.get(Customer, customer_id)
    return snapshot(customer, field_definitions(session, merchant_id))


def of_invoice(session: Session, invoice: Invoice) -> dict[str, Any]:
    """The invoice's stored bill-to; a row issued before snapshots existed falls back to the
    customer as they are now (the only source there is)."""
    if invoice.bill_to is not None:
        return invoice.bill_to
    return snapshot_for(session, invoice.customer_id, invoice.merchant_id)


def address_lines(address: dict | None) -> tuple[str, ...]:
    """Known keys in postal order (company, line1, line2, city/state/postal code, country)."""
    if not isinstance(address, dict):
        return ()

    def part(key: str) -> str:
        value = address.get(key)
        return str(value).strip() if isinstance(value, str | int) else ""

    city = ", ".join(p for p in (part("city"), part("state")) if p)
    locality = " ".join(p for p in (city, part("postal_code")) if p)
    lines = (part("company"), part("line1"), part("line2"), locality, part("country"))
    return tuple(line for line in lines if line)


def field_lines(bill_to: dict[str, Any]) -> tuple[str, ...]:
    """'Label: value' for each custom field of the snapshot (ticked boxes read Yes / No)."""
    lines = []
    for field in bill_to.get("custom_fields") or ():
        if not isinstance(field, dict):
            continue
        value = field.get("value")
        shown = ("Yes" if value else "No") if isinstance(value, bool) else str(value).strip()
        if shown:
            lines.append(f"{field.get('label') or field.get('key')}: {shown}")
    return tuple(lines)


def lines(bill_to: dict[str, Any]) -> tuple[str, ...]:
    """The bill-to block: name, email, billing address, custom fields."""
    who = tuple(
        line for line in (str(bill_to.get("name") or "").strip(), bill_to.get("email")) if line
    )
    return who + address_lines(bill_to.get("billing_address")) + field_lines(bill_to)


def ship_to_lines(bill_to: dict[str, Any]) -> tuple[str, ...]:
    """The shipping address, when there is one that differs from the billing address."""
    shipping = address_lines(bill_to.get("shipping_address"))
    if not shipping or shipping == address_lines(bill_to.get("billing_address")):
        return ()
    return shipping


def _address(address: dict | None) -> dict[str, str]:
    if not isinstance(address, dict):
        return {}
    return {
        key: str(address[key])
        for key in ADDRESS_KEYS
        if isinstance(address.get(key), str | int) and str(address[key]).strip()
    }
