"""Who is asking in the operator area, and whether a change they ask for is really theirs.

A browser signs in with the password and gets a session cookie; every change it asks for carries
the session's CSRF token (a form field, or `X-CSRF-Token`). A program sends `Authorization: Bearer
TOKEN` (`assistant operator token`), which no other site can make a browser send, so it needs no
CSRF token. Without an operator file every operator route answers 404, as if it did not exist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import Depends, HTTPException, Request

from assistant.api.dependencies import current_assistant
from assistant.api.routers.pages import ui_for
from assistant.i18n import N_
from assistant.operator.credentials import OperatorCredentials, token_name
from assistant.operator.jobs import Jobs
from assistant.operator.sessions import Session, Sessions, SignInThrottle
from assistant.operator.uploads import PendingUploads
from assistant.query.assistant import Assistant

SESSION_COOKIE = "operator_session"
SIGN_IN_COOKIE = "operator_sign_in"
"""A random value set with the sign-in form and posted back with it: a page on another site cannot
read it, so it cannot sign a browser in to an account of its choosing (login CSRF)."""
NOT_SIGNED_IN = N_("sign in first: this needs the operator's session or a bearer token")
BAD_CSRF = N_("the form is out of date or came from elsewhere: reload the page and try again")
UNKNOWN_DOCUMENT = N_("no such document in the collection: the operator page lists them")


class OperatorAreaOff(HTTPException):
    """No operator file: the area answers 404 as if it did not exist, on every route."""

    def __init__(self) -> None:
        super().__init__(404, "Not Found")


@dataclass(frozen=True)
class Operator:
    """Who is asking: a browser's session (with its CSRF token), or a program's bearer token."""

    session_id: str | None = None
    session: Session | None = None
    token_name: str | None = None

    @property
    def by(self) -> str:
        """How the audit trail names this operator: the token's name, or the start of a hash of the
        session id (the cookie itself is never written down)."""
        if self.token_name is not None:
            return f"token {self.token_name}"
        return "session " + hashlib.sha256((self.session_id or "").encode()).hexdigest()[:8]

    def check_csrf(self, request: Request, given: str | None = None) -> None:
        """A browser session's change must carry its CSRF token (`given`, from a form, or the
        `X-CSRF-Token` header); 403 otherwise."""
        if self.session is not None and not self.session.csrf_matches(given or request.headers.get("x-csrf-token")):
            raise HTTPException(403, BAD_CSRF)


def credentials(request: Request, assistant: Assistant = Depends(current_assistant)) -> OperatorCredentials:
    """The operator file's credentials; 404 when there is none (sign-in is off)."""
    found = OperatorCredentials.load(assistant.settings.operator_file)
    if found is None:
        raise OperatorAreaOff()
    return found


def sessions(request: Request) -> Sessions:
    return request.app.state.operator_sessions


def throttle(request: Request) -> SignInThrottle:
    return request.app.state.sign_in_throttle


def jobs(request: Request) -> Jobs:
    return request.app.state.operator_jobs


def pending_uploads(request: Request) -> PendingUploads:
    return request.app.state.pending_uploads


def client_of(request: Request) -> str:
    """The client a failed sign-in is counted against: the connection's address (behind a proxy,
    run uvicorn with --proxy-headers so that it is the browser's, not the proxy's)."""
    return request.client.host if request.client else "unknown"


def signed_in(request: Request, found: OperatorCredentials = Depends(credentials)) -> Operator | None:
    """The operator behind this request, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        name = token_name(found, token.strip())
        return Operator(token_name=name) if name is not None else None
    session_id = request.cookies.get(SESSION_COOKIE)
    session = sessions(request).get(session_id)
    return Operator(session_id, session) if session else None


def operator_required(operator: Operator | None = Depends(signed_in)) -> Operator:
    """For the JSON routes: 401 without a session or token."""
    if operator is None:
        raise HTTPException(401, NOT_SIGNED_IN, headers={"www-authenticate": "Bearer"})
    return operator


def page_operator(request: Request, operator: Operator | None = Depends(signed_in)) -> Operator:
    """For the pages: a browser's session, or a redirect to the sign-in page."""
    if operator is None or operator.session is None:
        raise HTTPException(303, NOT_SIGNED_IN, headers={"location": ui_for(request).url("/operator/sign-in")})
    return operator


async def posted_form(request: Request) -> dict[str, str]:
    """A posted urlencoded form (bounded by the app's body limit); the last value of each field."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"
