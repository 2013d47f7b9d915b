"""Shared fixtures: settings in a temporary folder, the real embedder, paths to ../shared."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.config.settings import Settings, load_settings
from tests.faketime import sitecustomize as faketime_sleep

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
NEWS_PAGES = SHARED / "corpus" / "news-pages"
FEED_CORPUS = SHARED / "corpus" / "feeds"
SEEDS = REPO / "config" / "seeds"
#: `TEST_EMBED_BACKEND=torch make test` embeds on sentence-transformers (the reference path)
#: wherever the suite embeds with the shipped default, to time the suite on either backend.
TEST_BACKEND = os.environ.get("TEST_EMBED_BACKEND", "")

if faketime_sleep.PATCHED:
    # The Python processes the tests start sleep the same way (tests.helpers.child_env keeps
    # this folder on their path).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(faketime_sleep.__file__).parent), os.environ.get("PYTHONPATH")])
    )


def require_shared(path: Path) -> Path:
    """Skip the test, with a message, when the shared test data is absent."""
    if not path.exists():
        pytest.skip(f"{path} is absent: shared test data not available beside the repository")
    return path


@pytest.fixture(scope="session")
def model_cache(pytestconfig, tmp_path_factory) -> Path:
    """The ONNX graph cache shared by every test (and kept between local runs in pytest's cache
    folder): the graph is exported once, not once per warehouse."""
    cache = getattr(pytestconfig, "cache", None)
    return (
        cache.mkdir("newswatch-model-cache")
        if cache is not None
        else tmp_path_factory.mktemp("model-cache")
    )


@pytest.fixture
def make_settings(tmp_path: Path, model_cache: Path) -> Callable[..., Settings]:
    """Build validated settings whose warehouse, feeds file and outbox live in tmp_path (the
    model cache is the session's).

    `extra` is TOML appended to the generated file; sections given there replace the defaults
    below key by key (a section may appear only once, so pass whole sections).
    """
    return settings_maker(tmp_path, model_cache)


def settings_maker(tmp_path: Path, model_cache: Path) -> Callable[..., Settings]:
    """What the make_settings fixture gives, for a folder of the caller's choosing."""

    def _make(extra: str = "", *, env: dict[str, str] | None = None) -> Settings:
        cfg = tmp_path / "config"
        cfg.mkdir(exist_ok=True)
        feeds = cfg / "feeds.toml"
        if not feeds.exists():
            feeds.write_text("# feeds for this test\n", encoding="utf-8")
        base = {
            "warehouse": {"path": f'"{tmp_path / "warehouse" / "test.duckdb"}"'},
            "feeds": {"file": f'"{feeds}"'},
            "seeds": {"dir": f'"{SEEDS}"'},
            "topics": {"file": f'"{REPO / "config" / "topics.toml"}"'},
            "digest": {"outbox": f'"{tmp_path / "outbox"}"'},
            "http": {"allow_private_networks": "true", "per_host_delay_s": "0.0"},
            # Cross-lingual linking is tested where it is the subject (test_crosslingual.py and
            # the news pages); elsewhere it would only add the second model's time.
            "embed": {
                "cache_dir": f'"{model_cache}"',
                "multilingual": "false",
                **({"backend": f'"{TEST_BACKEND}"'} if TEST_BACKEND else {}),
            },
        }
        import tomllib

        overrides = tomllib.loads(extra) if extra else {}
        lines = []
        for section in sorted(set(base) | set(overrides)):
            lines.append(f"[{section}]")
            own = overrides.get(section, {})
            for key, value in base.get(section, {}).items():
                if key not in own:
                    lines.append(f"{key} = {value}")
            if own:
                import tomlkit

                lines.append(tomlkit.dumps(own).strip())
            lines.append("")
        path = cfg / "settings.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return load_settings(path, env=env or {})

    return _make


@pytest.fixture
def warehouse_with_rows(make_settings) -> Settings:
    """Settings whose warehouse is migrated and holds one run."""
    from pipeline.store.db import Warehouse

    settings = make_settings()
    wh = Warehouse(settings.warehouse.path)
    wh.migrate()
    with wh.transaction() as db:
        db.execute("INSERT INTO runs (job, started_at, status) VALUES ('test', now(), 'ok')")
    return settings


@pytest.fixture(scope="session")
def embedder(model_cache):
    """The real default embedder (all-MiniLM-L6-v2 from the packaged files), loaded once."""
    from pipeline.embed.english import Embedder

    e = Embedder(cache_dir=model_cache, **({"backend": TEST_BACKEND} if TEST_BACKEND else {}))
    e.encode(["warm up"])
    return e


@pytest.fixture(scope="session")
def torch_embedder():
    """The same model on the sentence-transformers (torch) backend: the reference."""
    from pipeline.embed.english import Embedder

    e = Embedder(backend="torch")
    e.encode(["warm up"])
    return e


@pytest.fixture
def fake_embedder():
    """A deterministic bag-of-words embedder for unit tests."""
    from pipeline.testkit.fakes import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture
def loopback():
    """A running loopback HTTP server (pipeline.testkit.server)."""
    from pipeline.testkit.server import LoopbackServer

    with LoopbackServer() as server:
        yield server
