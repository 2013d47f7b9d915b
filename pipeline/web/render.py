"""Pages as HTML or JSON: one Jinja2 environment (autoescaped), the filters templates use, and the
rule that every page has a JSON twin (`.json` on its path, or `Accept: application/json`)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from pipeline.net.urls import web_url
from pipeline.web.security import CSRF_COOKIE


def web_href(url: Any) -> str | None:
    """The URL if it is an http(s) link, else None: pages link nothing but the web."""
    return web_url(url) or None


def when(value: Any) -> str:
    """A timestamp as the pages show it: UTC, to the minute."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


def marked(text: str, spans: Any) -> Markup:
    """Text with the given (start, end) spans wrapped in <mark>, everything escaped."""
    out = []
    pos = 0
    for start, end in sorted(spans or ()):
        if start < pos or end <= start:
            continue
        out.append(escape(text[pos:start]))
        out.append(Markup("<mark>") + escape(text[start:end]) + Markup("</mark>"))
        pos = end
    out.append(escape(text[pos:]))
    return Markup("").join(out)


def paragraphs(text: str, spans: Any = ()) -> Markup:
    """Stored text as paragraphs (blank-line or line separated), spans marked, all escaped."""
    out = []
    pos = 0
    for block in text.split("\n"):
        start, end = pos, pos + len(block)
        pos = end + 1
        if not block.strip():
            continue
        inside = [
            (max(s, start) - start, min(e, end) - start)
            for s, e in spans or ()
            if s < end and e > start
        ]
        out.append(Markup("<p>") + marked(block, inside) + Markup("</p>"))
    return Markup("\n").join(out)


def query(params: Mapping[str, Any], **changes: Any) -> str:
    """A query string from the current filters with some changed (None drops a key)."""
    merged = {**{k: v for k, v in params.items() if v not in (None, "")}, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def environment() -> Environment:
    """The templates' environment: autoescaped HTML, the filters above."""
    env = Environment(
        loader=PackageLoader("pipeline.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["web_href"] = web_href
    env.filters["when"] = when
    env.filters["paragraphs"] = paragraphs
    env.filters["marked"] = marked
    env.globals["query"] = query
    env.globals["request_id"] = lambda: uuid.uuid4().hex
    return env


def wants_json(request: Request) -> bool:
    """Whether the JSON twin of the page was asked for."""
    return request.url.path.endswith(".json") or "application/json" in request.headers.get(
        "accept", ""
    )


def plain(value: Any) -> Any:
    """A page's data as JSON-ready values (dataclasses, datetimes, tuples, sets)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


#: The header of a page answered from an earlier reading while another process writes: when
#: that reading was made (pipeline/web/recent.py).
AS_OF_HEADER = "X-Newswatch-As-Of"


class Pages:
    """Renders a page's data as its template or its JSON twin."""

    def __init__(self, csrf_token: Any) -> None:
        self.env = environment()
        self._csrf_token = csrf_token  # cookie -> form token

    def render(
        self,
        request: Request,
        template: str,
        data: Any,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        as_of: datetime | None = None,
        **extra: Any,
    ) -> Response:
        """The page: JSON of `data` when the twin was asked for, else the template; `as_of` is
        the time of an earlier reading the data comes from (said in a header and on the page)."""
        if as_of is not None:
            headers = {**(headers or {}), AS_OF_HEADER: as_of.isoformat()}
        if wants_json(request):
            return JSONResponse(
                json.loads(json.dumps(plain(data), default=str)),
                status_code=status,
                headers=headers,
            )
        cookie = request.scope.get("state", {}).get("csrf_cookie") or request.cookies.get(
            CSRF_COOKIE, ""
        )
        html = self.env.get_template(template).render(
            page=data,
            request=request,
            path=request.url.path,
            params=dict(request.query_params),
            csrf_token=self._csrf_token(cookie),
            as_of=as_of,
            **extra,
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    def error(
        self, request: Request, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A clear error page (or JSON) for a bad id, a bad parameter or a busy warehouse."""
        titles = {400: "Bad request", 404: "Not found", 503: "Busy, try again"}
        data = {"error": message, "status": status}
        return self.render(
            request,
            "error.html",
            data,
            status=status,
            headers=headers,
            title=titles.get(status, "Error"),
        )
