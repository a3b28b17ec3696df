"""What routes depend on: the application's one `Assistant`."""

from __future__ import annotations

from fastapi import Request

from assistant.query.assistant import Assistant


def current_assistant(request: Request) -> Assistant:
    """The assistant the app was made with (`create_app`); routes take it with `Depends`."""
    return request.app.state.assistant
