"""POST /api/ask: the ranked, cited passages that answer a question."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from assistant.answer.model import Answer
from assistant.api.dependencies import current_assistant
from assistant.api.language import request_language
from assistant.api.models import ERRORS, AskRequest
from assistant.query.assistant import Assistant

router = APIRouter()


@router.post("/api/ask", response_model=Answer, responses=ERRORS)
async def ask(body: AskRequest, request: Request, assistant: Assistant = Depends(current_assistant)) -> Answer:
    """The ranked, cited passages that answer `question`; `abstained` when none seems to, with
    `abstain_reason` and `missing_note` in the language of `Accept-Language` (English by default)."""
    answer = await run_in_threadpool(assistant.ask, body.question, body.k, doc_ids=body.doc_ids,
                                     year_from=body.year_from, year_to=body.year_to, language=body.language)
    return answer.said_in(request_language(request))
