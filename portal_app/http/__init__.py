"""Plain HTTP routes mounted into Reflex's backend with `api_transformer`: everything that must
set or clear the HttpOnly session cookie, serve files, or answer the merchant API."""
