"""The session cookie: how a log-in survives a reload, a bookmark or a typed address.

A Streamlit script cannot answer an HTTP request, so it cannot set an HTTP-only cookie itself. app.py mounts
`routes()` on Streamlit's own server (`st.App`) for that: after a log-in the page posts the log-in's one-time code
(`Service.open_login_session`) to ROUTE, which answers with the cookie (HttpOnly, SameSite=Strict, Secure over
HTTPS) holding a random token; the database keeps only the token's digest (`Service.issue_session_token`). A new
browser session reads the cookie from its WebSocket handshake (`st.context.cookies`) and resumes the log-in
(`Service.resume_login_session`), which is checked like every step. `middleware()` sends unknown addresses to a
friendly page instead of Streamlit's "Page not found" pop-up.

Under `streamlit run main.py` (the script alone, as AppTest runs it) neither exists: a reload logs out.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import streamlit as st

from ui.registry import NOT_FOUND_PATH, known_paths

if TYPE_CHECKING:
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

COOKIE_NAME = "vadlens_session"
ROUTE = "/api/session"  # under server.baseUrlPath
# A header a cross-site page cannot send without a CORS preflight, which ROUTE never grants.
HEADER = "X-VADLens-Session"
# Path segments of what Streamlit serves itself (assets, WebSocket, media, components) and of ROUTE.
_NOT_PAGES = frozenset({"_stcore", "static", "media", "component", "app", "api"})


def _base() -> str:
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}" if base else ""


def presented() -> str | None:
    """The session token this browser sent when it connected, if any."""
    token = st.context.cookies.get(COOKIE_NAME)
    return token if isinstance(token, str) and token else None  # AppTest's context holds stand-ins


def user_agent() -> str | None:
    """The browser's User-Agent as sent when it connected (None in AppTest), to bind a log-in to it."""
    agent = st.context.headers.get("User-Agent")
    return agent if isinstance(agent, str) and agent else None


def hand_off(code: str) -> None:
    """Have the browser trade a log-in's one-time code for the session cookie (drawn once, right after log-in)."""
    _run_in_browser(f"fetch({json.dumps(_base() + ROUTE)}, {_request('POST', code)})")


def clear() -> None:
    """Have the browser drop its session cookie (at log-out; the log-in record has ended already)."""
    _run_in_browser(f"fetch({json.dumps(_base() + ROUTE)}, {_request('DELETE', '')})")


def _request(method: str, body: str) -> str:
    return json.dumps({"method": method, "body": body, "headers": {HEADER: "1"}, "credentials": "same-origin"})


def _run_in_browser(call: str) -> None:
    # Only our own constant text and the code (URL-safe base64) reach the page; nothing a user typed.
    st.html(f"<script>{call}.catch(() => {{}});</script>", unsafe_allow_javascript=True, width=1)


# ---------------------------------------------------------------- the server side (mounted by app.py)


def routes() -> list[BaseRoute]:
    from starlette.routing import Route

    return [Route(_base() + ROUTE, _session_endpoint, methods=["POST", "DELETE"])]


def middleware() -> list[Middleware]:
    from starlette.middleware import Middleware

    return [Middleware(UnknownPathRedirect)]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    host = request.headers.get("x-forwarded-host") or request.headers.get("host")
    return bool(origin and host) and urlsplit(origin).netloc == host and request.headers.get(HEADER) == "1"


def _https(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


async def _session_endpoint(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import Response

    from db.services import LOGIN_LIFETIME

    if not _same_origin(request):
        return Response("cross-site request refused", status_code=403)
    path = _base() or "/"
    response = Response(status_code=204)
    if request.method == "DELETE":
        response.delete_cookie(COOKIE_NAME, path=path, secure=_https(request), httponly=True, samesite="strict")
        return response
    code = (await request.body())[:256].decode("ascii", "replace")
    token = await run_in_threadpool(_issue, code)
    if token is None:
        return Response("no log-in for this code", status_code=403)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=int(LOGIN_LIFETIME.total_seconds()),
        path=path,
        secure=_https(request),
        httponly=True,
        samesite="strict",
    )
    return response


def _issue(code: str) -> str | None:
    from ui import service  # the app's one Service (cached per server process)

    try:
        return service().issue_session_token(code)
    except Exception:  # a busy or broken database: no cookie, the log-in itself goes on
        logger.exception("the session cookie could not be issued")
        return None


class UnknownPathRedirect:
    """Sends a browser that asks for an address the app has no page for to the friendly "no such page" page
    (Streamlit would show its own pop-up over the first page)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            from starlette.responses import RedirectResponse

            base = _base()
            path: str = scope["path"]
            inner = path[len(base) :] if path.startswith(base) else path
            segments = [s for s in inner.split("/") if s]
            # Only a page the browser navigates to: the frontend also probes `<address>/_stcore/health` to find
            # the server's base path, and must get its 404 there.
            document = b"text/html" in dict(scope["headers"]).get(b"accept", b"")
            if document and segments and not _NOT_PAGES.intersection(segments) and "." not in segments[-1]:
                if len(segments) > 1 or segments[0] not in known_paths():
                    await RedirectResponse(f"{base}/{NOT_FOUND_PATH}", status_code=302)(scope, receive, send)
                    return
        await self.app(scope, receive, send)
