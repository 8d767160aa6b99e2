"""What a person sees when an event fails outside a handler: the guard turns a handler's own
errors into toasts, but Reflex loads and saves a tab's state around the handler, in Redis when
several workers run. If Redis (or the database) cannot be reached there, the person is told it
is temporary and that nothing changed, instead of "An error occurred. Contact the website
administrator."; anything else keeps Reflex's generic message, details only in the log."""

import logging

import redis.exceptions
import reflex as rx
from reflex.app import default_backend_exception_handler
from reflex.event import EventSpec

from portal_app.db import UNAVAILABLE, is_unavailable
from portal_app.services.errors import ServiceUnavailable

log = logging.getLogger(__name__)

_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, ServiceUnavailable)


def backend_exception_handler(exception: Exception) -> EventSpec:
    if isinstance(exception, _UNREACHABLE) or is_unavailable(exception):
        log.warning("event failed, a backing service is unreachable: %r", exception)
        return rx.toast.error(UNAVAILABLE, id="service_unavailable")
    return default_backend_exception_handler(exception)
