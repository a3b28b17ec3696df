"""GET /healthz: that the server answers, and from which index."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from assistant.api.dependencies import current_assistant
from assistant.api.models import Health
from assistant.query.assistant import Assistant

router = APIRouter()


@router.get("/healthz", response_model=Health)
def healthz(assistant: Assistant = Depends(current_assistant)) -> Health:
    """Documents and passages of the loaded index, its model and when it was built."""
    index = assistant.index
    return Health(
        status="ok",
        documents=len(index.documents),
        passages=len(index.passages),
        model=", ".join(model["name"] for model in index.manifest["models"].values()),
        built_at=index.manifest.get("built_at"),
    )
