"""Shared fixtures: settings in a temporary folder, a pipeline on a fresh warehouse, the real
embedder, loopback HTTP and SMTP servers, paths to ../shared."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pipeline.config.settings import Settings, load_settings
from tests.faketime import sitecustomize as faketime_sleep

if TYPE_CHECKING:
    from pipeline.ingest import Services

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
def model_cache() -> Path:
    """The per-user model cache newswatch itself uses ($XDG_CACHE_HOME/newswatch or
    ~/.cache/newswatch), shared by every test, every run and every clone on this machine: a
    fresh machine exports the graph once (both precisions: int8 is quantized from the fp32
    entry), a second pytest process exporting at the same time waits for the first's entry.
    Tests that damage an entry work on a copy in their own folder."""
    from pipeline.embed.model_files import default_cache_dir

    return default_cache_dir()


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
            # `run` serves the reading room only where a test asks for it (and names a free port).
            "web": {"enabled": "false"},
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


@pytest.fixture
def make_services(make_settings, fake_embedder) -> Callable[..., Services]:
    """Build a pipeline (Services) on a fresh warehouse with the seeds loaded: settings from
    make_settings(extra), the fake embedder unless another is given."""
    from tests.helpers import make_pipeline

    def make(extra: str = "", *, embedder: Any = None) -> Services:
        return make_pipeline(make_settings(extra), embedder or fake_embedder)

    return make


@pytest.fixture
def services(make_services) -> Services:
    """A pipeline on a fresh warehouse with the seeds loaded and the default test settings."""
    return make_services()


# -- SMTP on loopback --------------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port nothing listens on (yet)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps the messages it accepts; it refuses the first
    `refuse_first` with a temporary error (451), as a busy server does."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.messages: list[bytes] = []
        self.refuse = refuse_first
        self.port = 0

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.messages.append(envelope.original_content or envelope.content)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., int]]:
    """Start SMTP servers (aiosmtpd) on loopback: smtp_server(inbox, port=None, **options)
    returns the port (a free one unless given; options go to aiosmtpd's Controller: TLS,
    authentication). They stop when the test ends."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(handler: Inbox, *, port: int | None = None, **options: Any) -> int:
        handler.port = port or free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=handler.port, **options)
        controller.start()
        controllers.append(controller)
        return handler.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def inbox(smtp_server) -> Inbox:
    """A plain SMTP server on loopback that keeps what it receives (its port: inbox.port)."""
    handler = Inbox()
    smtp_server(handler)
    return handler
