"""`/topics/{slug}/train`: the trainer of one topic. The stored articles whose decision is least
certain, with the evidence, so that each mark teaches the most; the topic's marks, its learned
model's version and cross-validated agreement with them, and how many stored articles the model
would change. `POST /topics/{slug}/train` trains a new version now."""

from __future__ import annotations

import functools

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipeline.app.learning import TrainerView, trainer_view
from pipeline.web.login import csrf_ok, form_field
from pipeline.web.render import Pages, wants_json
from pipeline.web.security import Guard
from pipeline.web.site import Site

#: Articles the page asks about at once.
ASK = 20


def slug_of(request: Request) -> str:
    """The topic's slug from the path."""
    return str(request.path_params["slug"]).removesuffix(".json")


def view(site: Site, slug: str) -> TrainerView | None:
    """The trainer's data, or None for a topic the topics file does not define."""
    if slug not in site.topic_labels():
        return None
    return trainer_view(site.settings, site.warehouse, site.services(), slug, ASK)


def show(site: Site, pages: Pages, request: Request) -> Response:
    """GET /topics/{slug}/train (and .json)."""
    slug = slug_of(request)
    found = view(site, slug)
    if found is None:
        return pages.error(request, 404, f"no topic {slug!r} in the topics file")
    return pages.render(request, "trainer.html", found, title=f"Train: {found.label}")


async def train(site: Site, guard: Guard, pages: Pages, request: Request) -> Response:
    """POST /topics/{slug}/train: train the topic's learned part now (from its marks)."""
    slug = slug_of(request)
    if not csrf_ok(guard, request, await form_field(request, "csrf")):
        return pages.error(request, 403, "the form was not this server's: reload the page")
    if slug not in site.topic_labels():
        return pages.error(request, 404, f"no topic {slug!r} in the topics file")
    done = await run_in_threadpool(functools.partial(site.learn_now, [slug], force=True))
    if wants_json(request):
        return pages.render(request, "error.html", {"trained": done})
    return RedirectResponse(f"/topics/{slug}/train", status_code=303)
