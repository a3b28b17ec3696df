"""POST /api/ask: the ranked, cited passages that answer a question."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool

from ...answer import Answer
from ...pipeline import Assistant
from ..dependencies import current_assistant
from ..models import ERRORS, AskRequest

router = APIRouter()


@router.post("/api/ask", response_model=Answer, responses=ERRORS)
async def ask(body: AskRequest, assistant: Assistant = Depends(current_assistant)) -> Answer:
    """The ranked, cited passages that answer `question`; `abstained` when none seems to."""
    return await run_in_threadpool(assistant.ask, body.question, body.k, doc_ids=body.doc_ids,
                                   year_from=body.year_from, year_to=body.year_to, language=body.language)
