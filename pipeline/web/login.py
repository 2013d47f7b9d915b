"""`/login` and `/logout`: a server reached from other machines needs its token once per browser;
the session lives in an HttpOnly, SameSite=Strict cookie."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipeline.web.render import Pages
from pipeline.web.security import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_S,
    Guard,
    cookie_header,
    safe_next,
)


async def form_field(request: Request, name: str) -> str:
    """One field of a posted form ('' when absent)."""
    form = await request.form()
    value = form.get(name)
    return value if isinstance(value, str) else ""


def csrf_ok(guard: Guard, request: Request, token: str) -> bool:
    """Whether a POST carries the form token of its browser's CSRF cookie."""
    return guard.csrf_ok(request.cookies.get(CSRF_COOKIE), token)


def show(guard: Guard, pages: Pages, request: Request) -> Response:
    """GET /login: the token form (or straight on, when no token is needed)."""
    target = safe_next(request.query_params.get("next"))
    if guard.token is None:
        return RedirectResponse(target, status_code=303)
    return pages.render(request, "login.html", {"next": target, "error": None}, title="Log in")


async def submit(guard: Guard, pages: Pages, request: Request) -> Response:
    """POST /login: a right token (and CSRF token) sets the session cookie."""
    token = await form_field(request, "token")
    target = safe_next(await form_field(request, "next"))
    if not csrf_ok(guard, request, await form_field(request, "csrf")):
        return pages.error(request, 403, "the form was not this server's: reload the page")
    if not guard.token_ok(token):
        data = {"next": target, "error": "That is not this server's token."}
        return pages.render(request, "login.html", data, status=403, title="Log in")
    response = RedirectResponse(target, status_code=303)
    response.raw_headers.append(
        (
            b"set-cookie",
            cookie_header(
                SESSION_COOKIE,
                guard.new_session(),
                max_age=SESSION_S,
                secure=guard.secure_cookies,
            ),
        )
    )
    return response


async def logout(guard: Guard, pages: Pages, request: Request) -> Response:
    """POST /logout: forget the session cookie."""
    if not csrf_ok(guard, request, await form_field(request, "csrf")):
        return pages.error(request, 403, "the form was not this server's: reload the page")
    response = RedirectResponse("/login", status_code=303)
    response.raw_headers.append(
        (b"set-cookie", cookie_header(SESSION_COOKIE, "", max_age=0, secure=guard.secure_cookies))
    )
    return response
