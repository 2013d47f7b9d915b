"""The reading room as one Starlette app: its routes (every page also as `.json`), the guard in
front of them, and errors as clear pages, never a traceback."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.errors import NewswatchError, WarehouseBusyError, WarehouseError
from pipeline.web import (
    articles,
    entities,
    front,
    login,
    marking,
    operations,
    search,
    sqlpage,
    stories,
    trainer,
)
from pipeline.web.metrics import Metrics
from pipeline.web.params import BadParameter
from pipeline.web.render import Pages
from pipeline.web.security import Guard, GuardMiddleware
from pipeline.web.site import Site

log = logging.getLogger(__name__)

Handler = Callable[[Request], Any]

#: Seconds a client is told to wait when the warehouse is busy with a long write.
RETRY_AFTER_S = 5


class _Pages:
    """Turns page handlers into endpoints: run off the event loop, errors as pages, timed."""

    def __init__(self, pages: Pages, metrics: Metrics) -> None:
        self.pages = pages
        self.metrics = metrics

    def __call__(self, name: str, handler: Callable[..., Any], *args: Any) -> Handler:
        """The endpoint of one page: `handler(*args, pages, request)`."""
        bound = functools.partial(handler, *args, self.pages)
        is_async = inspect.iscoroutinefunction(handler)

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                if is_async:
                    response: Response = await bound(request)
                else:
                    response = await run_in_threadpool(bound, request)
            except Exception as exc:  # every failure is a page; see _failure
                response = self._failure(request, exc)
            self.metrics.observe(name, started)
            return response

        return endpoint

    def _failure(self, request: Request, exc: Exception) -> Response:
        error = self.pages.error
        retry = {"Retry-After": str(RETRY_AFTER_S)}
        if isinstance(exc, BadParameter):
            return error(request, 400, str(exc))
        if isinstance(exc, WarehouseBusyError):
            log.info("page %s: warehouse busy: %s", request.url.path, exc)
            busy = "The warehouse is busy with a long write; this page will load in a moment."
            return error(request, 503, busy, headers=retry)
        if isinstance(exc, WarehouseError):
            log.warning("page %s: %s", request.url.path, exc)
            return error(request, 503, str(exc), headers=retry)
        if isinstance(exc, NewswatchError):
            return error(request, 400, str(exc))
        # Logged in full here; the reader gets a page that says so, not a traceback, and the
        # connection stays usable.
        log.exception("page %s failed", request.url.path, exc_info=exc)
        return error(request, 500, "something went wrong; the log has the details")

    def both(self, path: str, name: str, handler: Callable[..., Any], *args: Any) -> list[Route]:
        """A page and its JSON twin (`path.json`)."""
        endpoint = self(name, handler, *args)
        return [Route(path, endpoint), Route(path + ".json", endpoint)]


def _routes(site: Site, guard: Guard, page: _Pages, metrics: Metrics) -> list[BaseRoute]:
    runner = sqlpage.SqlRunner(site)
    return [
        *page.both("/", "front", front.index, site),
        Route("/index.json", page("front", front.index, site)),
        Route("/updates.json", page("updates", front.updates, site)),
        Route("/stories/{story_id}", page("story", stories.show, site)),
        Route("/articles/{article_id}", page("article", articles.show, site)),
        *page.both("/entities", "entities", entities.index, site),
        Route("/entities/{name:path}", page("entity", entities.show, site)),
        *page.both("/search", "search", search.show, site),
        *page.both("/feeds", "feeds", operations.feeds, site),
        *page.both("/alerts", "alerts", operations.alerts, site),
        *page.both("/sql", "sql", sqlpage.page, runner),
        Route("/sql/result.{kind}", page("sql", sqlpage.download, runner)),
        Route("/metrics", metrics.endpoint),
        Route("/marks", page("marks", marking.post, site, guard), methods=["POST"]),
        Route("/topics/{slug}/train", page("trainer", trainer.show, site), methods=["GET"]),
        Route("/topics/{slug}/train.json", page("trainer", trainer.show, site)),
        Route(
            "/topics/{slug}/train", page("trainer", trainer.train, site, guard), methods=["POST"]
        ),
        Route("/login", page("login", login.show, guard), methods=["GET"]),
        Route("/login", page("login", login.submit, guard), methods=["POST"]),
        Route("/logout", page("login", login.logout, guard), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("pipeline.web", "static")]), name="static"),
    ]


def create_app(site: Site, guard: Guard) -> Starlette:
    """The reading room for one installation."""
    pages = Pages(guard.csrf_token)
    metrics = Metrics(site)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 405:
            return pages.error(request, 405, "this address does not take that method")
        if status == 404:
            return pages.error(request, 404, f"nothing at {request.url.path}")
        return pages.error(request, status, "something went wrong")

    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("page %s failed", request.url.path, exc_info=exc)
        return pages.error(request, 500, "something went wrong; the log has the details")

    return Starlette(
        routes=_routes(site, guard, _Pages(pages, metrics), metrics),
        middleware=[Middleware(GuardMiddleware, guard=guard)],
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
