"""The plain HTTP side of the app (sign-in routes, downloads, the REST API) as an ASGI app for a
server process of the API tests (tests/unit/test_api_schema.py): no Reflex build needed."""

from portal_app.http.routes import build_http_app

app = build_http_app()
