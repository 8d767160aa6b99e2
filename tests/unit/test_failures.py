"""The app's backend exception handler: an unreachable Redis or database around an event is
told plainly as temporary; anything else keeps Reflex's generic message."""

from __future__ import annotations

import redis.exceptions
import sqlalchemy as sa

from portal_app.db import UNAVAILABLE
from portal_app.services.errors import ServiceUnavailable
from portal_app.state.failures import backend_exception_handler


def test_unreachable_redis_or_database_is_briefly_unavailable():
    lost_db = sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))
    lost_db.connection_invalidated = True
    for exception in (
        redis.exceptions.ConnectionError("Connection refused"),
        redis.exceptions.TimeoutError("Timeout reading from socket"),
        ServiceUnavailable(UNAVAILABLE),
        lost_db,
    ):
        assert UNAVAILABLE in str(backend_exception_handler(exception)), exception


def test_any_other_failure_keeps_the_generic_message():
    for exception in (ValueError("bug"), redis.exceptions.ResponseError("WRONGTYPE")):
        text = str(backend_exception_handler(exception))
        assert "An error occurred." in text and UNAVAILABLE not in text
