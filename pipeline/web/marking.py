"""`POST /marks`: the reading room's buttons (and y/n keys) mark articles and stories.

Every POST carries the CSRF token of its page and a one-time request id, so a form sent twice
is recorded once. A link never marks anything: mail scanners open links.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from pipeline.app import marking
from pipeline.store.topic_models import THEME
from pipeline.web.login import csrf_ok
from pipeline.web.params import BadParameter
from pipeline.web.render import Pages, wants_json
from pipeline.web.security import Guard, safe_next
from pipeline.web.site import Site

#: Who marks from the reading room (one token means one team; the CLI records the login name).
WEB_ANALYST = "reading room"
VALUES = {"yes": True, "no": False, "undo": None}


def _int(form: dict[str, str], name: str) -> int:
    raw = form.get(name, "").strip()
    if not raw.isdigit() or len(raw) > 18:
        raise BadParameter(name, f"{raw[:40]!r} is not an id")
    return int(raw)


async def post(site: Site, guard: Guard, pages: Pages, request: Request) -> Response:
    """POST /marks: record one mark, then back to the page it was made on."""
    raw = await request.form()
    form = {k: v for k, v in raw.items() if isinstance(v, str)}
    if not csrf_ok(guard, request, form.get("csrf", "")):
        return pages.error(request, 403, "the form was not this server's: reload the page")
    kind = form.get("kind", "")
    request_id = form.get("request_id") or None
    if request_id is not None and len(request_id) > 64:
        raise BadParameter("request_id", "too long")
    common = {
        "by": WEB_ANALYST,
        "via": "web",
        "request_id": request_id,
        "wait_s": site.settings.web.busy_wait_s,
    }
    settings, warehouse = site.settings, site.warehouse
    if kind == "topic":
        value = form.get("value", "")
        if value not in VALUES:
            raise BadParameter("value", "yes, no or undo")
        done = await _run(
            marking.mark_topic,
            settings,
            warehouse,
            [_int(form, "article_id")],
            form.get("topic", ""),
            VALUES[value],
            **common,
        )
    elif kind == "off_theme":
        off = form.get("value", "yes") != "undo"
        done = await _run(
            marking.mark_off_theme, settings, warehouse, [_int(form, "article_id")], off, **common
        )
    elif kind == "split":
        done = await _run(
            marking.mark_split, settings, warehouse, _int(form, "article_id"), **common
        )
    elif kind == "merge":
        done = await _run(
            marking.mark_merge,
            settings,
            warehouse,
            _int(form, "story_id"),
            _int(form, "other_story_id"),
            **common,
        )
    else:
        raise BadParameter("kind", "topic, off_theme, split or merge")
    if kind in ("topic", "off_theme") and not done.duplicate:
        site.learn_soon(form.get("topic", "") if kind == "topic" else THEME)
    if wants_json(request):
        return JSONResponse(
            {"effect": done.effect, "duplicate": done.duplicate, "marks": list(done.ids)}
        )
    return RedirectResponse(safe_next(form.get("next")), status_code=303)


async def _run(
    fn: Callable[..., marking.MarkResult], *args: Any, **kwargs: Any
) -> marking.MarkResult:
    # A mark is a short write transaction: off the event loop, like every page's reads.
    return await run_in_threadpool(fn, *args, **kwargs)
