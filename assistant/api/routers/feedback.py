"""POST /api/feedback: a reader's verdict on a passage ("answers my question" / "wrong passage"),
kept in the local SQLite file only when the operator turned `feedback` on; refused (404) otherwise.
Bounded: `feedback_per_minute` judgements a client (429 with Retry-After beyond), at most
`feedback_max_judgements` kept (507 beyond), and a full or unwritable disk is a 507 too."""

from __future__ import annotations

import math
import os
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from assistant import feedback as store
from assistant.api._rate_limit import RateLimit
from assistant.api.dependencies import current_assistant
from assistant.api.language import request_language
from assistant.api.models import ERRORS, ErrorResponse, whole_number
from assistant.errors import QuestionError
from assistant.files import refused_write
from assistant.i18n import N_, Message
from assistant.languages import Language, detect_language
from assistant.query.assistant import Assistant
from assistant.query.validation import validate_question

router = APIRouter()

MAX_HIGHLIGHT_CHARS = 5000
FEEDBACK_OFF = N_("feedback is turned off on this server: nothing is stored")
TOO_OFTEN = N_("too many judgements from this device: try again in {seconds} s")
NOT_KEPT = N_("the server cannot keep judgements now ({reason}): tell its operator")


class FeedbackRequest(BaseModel):
    question: str = Field(strict=True, description="The question the passage was shown for (the limits of /api/ask's).")
    question_language: Language | None = Field(
        None, description="The question's language as the answer gave it (detected when left out).")
    doc_id: str = Field(strict=True, max_length=300, description="The passage's document (its citation's doc_id).")
    start: int = Field(strict=True, ge=0, description="The passage's citation.start.")
    end: int = Field(strict=True, ge=1, description="The passage's citation.end.")
    highlight: str = Field(strict=True, min_length=1, max_length=MAX_HIGHLIGHT_CHARS,
                           description="The passage's highlighted sentence(s), as shown.")
    verdict: Literal["answers", "wrong"] = Field(description='"answers": it answers the question; "wrong": it does not.')

    _whole_numbers = field_validator("start", "end", mode="before")(whole_number)


class FeedbackSaved(BaseModel):
    saved: bool


@router.post("/api/feedback", response_model=FeedbackSaved,
             responses={**ERRORS, 404: {"model": ErrorResponse}, 429: {"model": ErrorResponse},
                        507: {"model": ErrorResponse}})
async def feedback(body: FeedbackRequest, request: Request, assistant: Assistant = Depends(current_assistant)):
    """Keep one verdict on one passage (the same passage judged again for the same question
    replaces the verdict). Off unless the operator set ASSISTANT_FEEDBACK=on."""
    lang = request_language(request)
    if not assistant.settings.feedback:
        return JSONResponse({"error": Message(FEEDBACK_OFF).render(lang)}, status_code=404)
    try:
        judgement = _judgement(assistant, body)
    except QuestionError as error:
        return JSONResponse({"error": error.render(lang)}, status_code=422)
    limit: RateLimit = request.app.state.feedback_limit
    wait = limit.take(request.client.host if request.client else "")
    if wait:
        seconds = math.ceil(wait)
        return JSONResponse({"error": Message(TOO_OFTEN, {"seconds": seconds}).render(lang)}, status_code=429,
                            headers={"Retry-After": str(seconds)})
    settings = assistant.settings
    try:
        await run_in_threadpool(store.record, settings.feedback_file, judgement,
                                max_judgements=settings.feedback_max_judgements, keep_days=settings.feedback_keep_days)
    except store.FeedbackFullError as error:
        return JSONResponse({"error": error.render(lang)}, status_code=507)
    except Exception as error:  # the disk is full, or the file unwritable: say so, never a 500
        number = refused_write(error)
        if number is None:
            raise
        return JSONResponse({"error": Message(NOT_KEPT, {"reason": os.strerror(number)}).render(lang)}, status_code=507)
    return FeedbackSaved(saved=True)


def _judgement(assistant: Assistant, body: FeedbackRequest) -> store.Judgement:
    """The judgement, once the question is a valid one and the passage is a real span of a real
    document whose text holds the highlight."""
    question = validate_question(body.question, assistant.settings.max_question_chars)
    document = assistant.index.documents.get(body.doc_id)
    if document is None:
        raise QuestionError(N_("no document with id {doc_id}; GET /api/documents lists them"), doc_id=repr(body.doc_id))
    if not body.start < body.end <= len(document.text):
        raise QuestionError(N_("start and end must be a passage of the document (0 to {length})"),
                            length=len(document.text))
    passage = document.text[body.start : body.end]
    highlight = body.highlight.strip()
    if " ".join(highlight.split()) not in " ".join(passage.split()):
        raise QuestionError(N_("the highlight is not part of that passage"))
    language = body.question_language or detect_language(question)
    return store.Judgement(question, language, body.doc_id, body.start, body.end, highlight, body.verdict)
