"""The HTTP API (FastAPI): `create_app(assistant)` serves the JSON API, the chat page and the
source pages, every route going through the same `Assistant` as the CLI."""

from assistant.api.application import create_app

__all__ = ["create_app"]
