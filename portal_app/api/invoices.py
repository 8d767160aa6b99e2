"""`/invoices`: list, get, the PDF, and pay (retry) an open invoice on a saved card."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import Field

from portal_app.api import core
from portal_app.models import Invoice, InvoiceStatus
from portal_app.services import documents, invoices
from portal_app.services.api_objects import InvoiceObject
from portal_app.services.errors import CardError, NotFound
from portal_app.services.gateway import configured_gateway

router = APIRouter(prefix="/invoices", tags=["invoices"])
InvoiceId = Annotated[int, Path(ge=1, le=2**53)]


def _mine(session, merchant_id: int, invoice_id: int) -> Invoice:
    """The merchant's invoice; a draft is not issued yet and is not shown."""
    row = session.get(Invoice, invoice_id)
    if row is None or row.merchant_id != merchant_id or row.status == InvoiceStatus.DRAFT:
        raise NotFound("No such invoice.")
    return row


@router.get("", response_model=core.ListOf[InvoiceObject], summary="List invoices")
def list_invoices(
    customer_id: int | None = Query(None, ge=1, le=2**53),
    subscription_id: int | None = Query(None, ge=1, le=2**53),
    status: Literal["open", "paid", "void", "uncollectible"] | None = Query(None),
    limit: int = core.Limit,
    starting_after: int | None = core.StartingAfter,
    who=core.caller("invoices:read"),
):
    query = core.owned(
        Invoice,
        who.merchant_id,
        customer_id=customer_id,
        subscription_id=subscription_id,
        status=status,
    ).where(Invoice.status != InvoiceStatus.DRAFT)
    return core.list_page(query, Invoice, limit, starting_after, InvoiceObject.many)


@router.get("/{invoice_id}", response_model=InvoiceObject, summary="Get an invoice")
def get_invoice(invoice_id: InvoiceId, who=core.caller("invoices:read")):
    return core.read(lambda s: InvoiceObject.many(s, [_mine(s, who.merchant_id, invoice_id)])[0])


@router.get(
    "/{invoice_id}/pdf",
    summary="The invoice as PDF",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The PDF."}},
)
def invoice_pdf(invoice_id: InvoiceId, who=core.caller("invoices:read")):
    def work(session):
        row = _mine(session, who.merchant_id, invoice_id)
        data, filename = documents.invoice_pdf_for_merchant(
            session, merchant_id=who.merchant_id, invoice_id=row.id
        )
        return Response(
            data,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )

    return core.read(work)


class PayIn(core.ApiInput):
    payment_method_id: int | None = Field(
        None, ge=1, le=2**53, description="A saved card of the customer; default: their default."
    )


@router.post("/{invoice_id}/pay", response_model=InvoiceObject, summary="Pay an open invoice")
def pay_invoice(
    request: Request, invoice_id: InvoiceId, body: PayIn, who=core.caller("invoices:write")
):
    """Charges once however often it is retried: a paid invoice answers with its payment."""

    def work(session, _key):
        row = _mine(session, who.merchant_id, invoice_id)
        outcome = invoices.pay(
            session,
            core.CLOCK,
            configured_gateway(),
            customer_id=row.customer_id,
            invoice_id=row.id,
            payment_method_id=body.payment_method_id,
            actor=who.actor,
        )
        session.refresh(row)
        if not outcome.succeeded:
            # The failed attempt is recorded (dunning counts it); the refusal says why.
            session.commit()
            raise CardError(outcome.message, code="payment_failed")
        return InvoiceObject.many(session, [row])[0]

    return core.write(request, who, work, params=body)
