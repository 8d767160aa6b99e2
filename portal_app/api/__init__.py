"""The merchant REST API under /api/v1 (FastAPI, for its OpenAPI document and input checks),
mounted beside the other plain HTTP routes. docs/API.md is its guide."""
