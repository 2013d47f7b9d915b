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
from starlette.routing import Mount, Route
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


def create_app(site: Site, guard: Guard) -> Starlette:
    """The reading room for one installation."""
    pages = Pages(guard.csrf_token)
    metrics = Metrics(site)
    runner = sqlpage.SqlRunner(site)

    def page(name: str, handler: Callable[..., Any], *args: Any) -> Handler:
        """A sync page handler (run in the thread pool) with errors as pages, timed by route."""
        bound = functools.partial(handler, *args, pages)

        async def endpoint(request: Request) -> Response:
            started = time.perf_counter()
            try:
                if inspect.iscoroutinefunction(handler):
                    response: Response = await bound(request)
                else:
                    response = await run_in_threadpool(bound, request)
            except BadParameter as exc:
                response = pages.error(request, 400, str(exc))
            except WarehouseBusyError as exc:
                log.info("page %s: warehouse busy: %s", request.url.path, exc)
                response = pages.error(
                    request,
                    503,
                    "The warehouse is busy with a long write; this page will load in a moment.",
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            except WarehouseError as exc:
                log.warning("page %s: %s", request.url.path, exc)
                response = pages.error(
                    request, 503, str(exc), headers={"Retry-After": str(RETRY_AFTER_S)}
                )
            except NewswatchError as exc:
                response = pages.error(request, 400, str(exc))
            except Exception:
                # Logged in full here; the reader gets a page that says so, not a traceback,
                # and the connection stays usable.
                log.exception("page %s failed", request.url.path)
                response = pages.error(
                    request, 500, "something went wrong; the log has the details"
                )
            metrics.observe(name, started)
            return response

        return endpoint

    def both(path: str, name: str, handler: Callable[..., Any], *args: Any) -> list[Route]:
        endpoint = page(name, handler, *args)
        return [Route(path, endpoint), Route(path + ".json", endpoint)]

    routes = [
        *both("/", "front", front.index, site),
        Route("/index.json", page("front", front.index, site)),
        Route("/updates.json", page("updates", front.updates, site)),
        Route("/stories/{story_id}", page("story", stories.show, site)),
        Route("/articles/{article_id}", page("article", articles.show, site)),
        *both("/entities", "entities", entities.index, site),
        Route("/entities/{name:path}", page("entity", entities.show, site)),
        *both("/search", "search", search.show, site),
        *both("/feeds", "feeds", operations.feeds, site),
        *both("/alerts", "alerts", operations.alerts, site),
        *both("/sql", "sql", sqlpage.page, runner),
        Route("/sql/result.{kind}", page("sql", sqlpage.download, runner)),
        Route("/metrics", metrics.endpoint),
        Route("/marks", page("marks", marking.post, site, guard), methods=["POST"]),
        Route("/login", page("login", login.show, guard), methods=["GET"]),
        Route("/login", page("login", login.submit, guard), methods=["POST"]),
        Route("/logout", page("login", login.logout, guard), methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("pipeline.web", "static")]), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
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
        routes=routes,
        middleware=[Middleware(GuardMiddleware, guard=guard)],
        exception_handlers={HTTPException: not_found, Exception: server_error},
    )
