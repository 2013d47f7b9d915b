"""Backfill from WARC files: reading, prefiltering, Arrow hand-over, storing through the ingest
writer, rerun after SIGKILL, a bad file, a dry run, and a 2-worker Dask cluster against a serial
run. WARC files are written with warcio (gzip per record) from made-up and shared pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pipeline.backfill.prefilter import Prefilter, PrefilterSpec, load_spec
from pipeline.backfill.run import BackfillOptions, run_backfill
from pipeline.backfill.sources import SourceError, describe, expand
from pipeline.backfill.warc import BadArchiveError, ReadCounts, html_pages
from pipeline.backfill.worker import from_arrow, to_arrow
from pipeline.ingest import Services
from pipeline.models import ArticleDraft
from pipeline.tag.seeds import load_seeds
from pipeline.tag.watchlist import WatchEntity
from pipeline.testkit.pages import article_page
from pipeline.testkit.warcs import Record, write_warc
from tests.conftest import NEWS_PAGES, REPO, SEEDS, require_shared

DAY1 = datetime(2024, 3, 1, 9, tzinfo=UTC)
DAY2 = datetime(2024, 3, 2, 9, tzinfo=UTC)

SANCTIONS = [
    "The US Treasury imposed sanctions on Tuesday on four Hong Kong trading companies accused of "
    "shipping navigation chips and drone parts to Russian arms makers.",
    "Officials said the designations freeze any assets the firms hold in the United States and "
    "bar Americans from doing business with them, a step that follows months of warnings.",
    "Brokers in Hong Kong said the companies had changed their names twice last year, a pattern "
    "investigators describe as typical of networks built to move restricted electronics.",
]
IMAGERY = [
    "A Chinese company sold high-resolution satellite imagery of Ukrainian positions to a "
    "contractor working for the Wagner Group, according to documents seen by reporters.",
    "The images, taken by a commercial radar satellite, showed airfields and supply depots in "
    "the east of the country days before they were shelled, analysts said.",
    "The company denied selling pictures for military use and said its customers sign "
    "agreements that forbid it, but declined to name the buyer of the radar images.",
]
ESPIONAGE = [
    "Prosecutors in Munich charged an engineer at a satellite maker with espionage, saying he "
    "passed design files of a ground station to a foreign intelligence officer for cash.",
    "The engineer met his handler in Vienna four times, according to the indictment, and used "
    "a messaging app that deletes its messages after a day to arrange the meetings.",
    "His employer said it had cooperated with investigators from the start and that no "
    "classified programme had been compromised by the leak of the documents.",
]
SPORT = [
    "The home side came from two goals down to win a thrilling match on Saturday evening in "
    "front of a sold-out crowd that sang until the final whistle.",
    "The coach praised the defence after the break and said the young striker who scored "
    "twice would start again next week against the league leaders.",
]


def _page(title: str, paragraphs: list[str]) -> bytes:
    return article_page(title, paragraphs).encode("utf-8")


def _seed_page() -> tuple[str, bytes]:
    seed = load_seeds(SEEDS)[0]
    paras = [p for p in seed.text.split("\n") if p.strip()]
    return seed.url, _page(seed.title, paras)


def make_archives(folder: Path) -> dict[str, str]:
    """Two WARC files and a bad one; returns the URLs by what their page is."""
    folder.mkdir(parents=True, exist_ok=True)
    _, seed_html = _seed_page()
    urls = {
        "sanctions": "https://news.example.com/2024/03/01/sanctions-hong-kong",
        "imagery": "https://world.example.org/china-satellite-imagery-wagner",
        "seed_copy": "https://copy.example.net/treasury-sanctions-chinese-firm",
        "espionage": "https://news.example.com/2024/03/02/engineer-charged-espionage",
        "sanctions_copy": "https://reprint.example.info/hong-kong-firms-sanctioned",
        "sport": "https://sport.example.com/match-report",
    }
    write_warc(
        folder / "CC-NEWS-20240301.warc.gz",
        [
            Record(
                urls["sanctions"], _page("Treasury sanctions Hong Kong firms", SANCTIONS), date=DAY1
            ),
            Record(
                "https://news.example.com/report.pdf",
                b"%PDF-1.4 not a page",
                content_type="application/pdf",
                date=DAY1,
            ),
            Record(
                "https://news.example.com/missing",
                b"<html><body>gone</body></html>",
                status=404,
                date=DAY1,
            ),
            Record(
                urls["imagery"], _page("Chinese firm sold satellite imagery", IMAGERY), date=DAY1
            ),
            Record(urls["seed_copy"], seed_html, date=DAY1),
            Record(urls["sport"], _page("Late comeback wins the derby", SPORT), date=DAY1),
        ],
    )
    write_warc(
        folder / "CC-NEWS-20240302.warc.gz",
        [
            Record(
                urls["espionage"], _page("Engineer charged with espionage", ESPIONAGE), date=DAY2
            ),
            Record(
                urls["sanctions_copy"], _page("Hong Kong firms sanctioned", SANCTIONS), date=DAY2
            ),
            Record(
                "https://news.example.com/cut", _page("Cut short", ESPIONAGE[:1] * 3), date=DAY2
            ),
        ],
        truncate_last=120,
    )
    (folder / "CC-NEWS-20240303.warc.gz").write_bytes(b"this is not a WARC file\n" * 40)
    return urls


def _rows(warehouse) -> list[tuple]:
    """Archive articles as (canonical URL, URL of what it duplicates, kind, story's first URL)."""
    with warehouse.connect(read_only=True) as db:
        return db.rows(
            "SELECT a.canonical_url, o.url, a.duplicate_kind, s.canonical_url, a.archive_source "
            "FROM articles a LEFT JOIN articles o ON o.id = a.duplicate_of "
            "LEFT JOIN articles s ON s.id = a.story_id "
            "WHERE a.archive_source IS NOT NULL ORDER BY a.id"
        )


# -- reading ---------------------------------------------------------------------------------


def test_warc_reader_keeps_html_200_and_skips_a_truncated_record(tmp_path):
    path = write_warc(
        tmp_path / "a.warc.gz",
        [
            Record("https://a.example/1", _page("One", SANCTIONS)),
            Record("https://a.example/doc.pdf", b"%PDF-1.7", content_type="application/pdf"),
            Record("https://a.example/404", b"<html><p>missing</p></html>", status=404),
            Record("https://a.example/feed", b'{"a": 1}', content_type="application/json"),
            Record("https://a.example/2", _page("Two", IMAGERY)),
        ],
        truncate_last=100,
    )
    counts = ReadCounts()
    with open(path, "rb") as f:
        pages = list(html_pages(f, counts))
    assert [p.url for p in pages] == ["https://a.example/1"]
    assert pages[0].record_id and pages[0].crawled_at.tzinfo is not None
    assert counts.records == 5 and counts.html == 1 and counts.bad == 1


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"garbage " * 100,
        b"\x1f\x8b\x08\x00garbage",
        b"WARC/1.0\r\nWARC-Type: response\r\n\r\nxx",
    ],
)
def test_a_file_that_is_not_warc_is_refused(tmp_path, content):
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(content)
    with open(path, "rb") as f, pytest.raises(BadArchiveError):
        list(html_pages(f, ReadCounts()))


def test_sources_expand_folders_globs_and_lists(tmp_path):
    for name in ("b.warc.gz", "a.warc", "notes.txt"):
        (tmp_path / "arc" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "arc" / name).write_bytes(b"x")
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# crawl of March\narc/a.warc\n\n"
        + str(tmp_path / "arc" / "b.warc.gz")
        + "\nhttps://data.example.org/crawl/c.warc.gz\n",
        encoding="utf-8",
    )
    arc = str(tmp_path / "arc")
    assert expand([arc]) == [f"{arc}/a.warc", f"{arc}/b.warc.gz"]
    assert expand([f"{arc}/*.gz"]) == [f"{arc}/b.warc.gz"]
    assert expand([str(listing), arc]) == [
        f"{tmp_path}/arc/a.warc",
        f"{arc}/b.warc.gz",
        "https://data.example.org/crawl/c.warc.gz",
    ]
    with pytest.raises(SourceError, match="no such file"):
        expand([str(tmp_path / "missing.warc.gz")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no WARC files"):
        expand([str(tmp_path / "empty")])


def test_a_changed_file_has_another_key(tmp_path):
    path = tmp_path / "a.warc.gz"
    path.write_bytes(b"a" * 200_000)
    first = describe(str(path))
    assert describe(str(path)).key == first.key
    stat = path.stat()
    with open(path, "r+b") as f:  # same size, same mtime, other bytes at the end
        f.seek(199_000)
        f.write(b"b")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert describe(str(path)).key != first.key


# -- prefilter -------------------------------------------------------------------------------


def test_prefilter_passes_topic_keywords_and_watchlist_aliases():
    spec = load_spec(REPO / "config" / "topics.toml", REPO / "config" / "watchlist.toml", SEEDS)
    pre = Prefilter(spec)
    assert pre.reason("Late comeback wins the derby", " ".join(SPORT)) is None
    assert pre.reason("Treasury acts", "Washington sanctioned four firms.").startswith("keyword")
    assert pre.reason("A spy story", "") is not None  # the title counts
    assert pre.reason("Deal", "Spacety signed a contract.") == "watchlist: Spacety"
    assert (
        Prefilter(PrefilterSpec(spec.terms, spec.entities, enabled=False)).reason(
            "Late comeback", " ".join(SPORT)
        )
        == "no prefilter"
    )


def test_prefilter_words_are_whole_words():
    pre = Prefilter(
        PrefilterSpec(
            ("sanction",), (WatchEntity("Wagner Group", "organisation", ("Wagner Group",)),)
        )
    )
    assert pre.reason("", "the unsanctioned match went ahead") is None
    assert pre.reason("", "the sanctions bite") == "keyword: sanction"
    assert pre.reason("", "the Wagner Group's men") == "watchlist: Wagner Group"
    assert pre.reason("", "Richard Wagner's opera") is None


# -- Arrow hand-over -------------------------------------------------------------------------


def test_drafts_and_embeddings_survive_the_arrow_table(fake_embedder):
    drafts = [
        ArticleDraft(
            source="feed",
            url=f"https://a.example/{i}",
            title=f"T{i}",
            text=" ".join(SANCTIONS[: i + 1]) * (i + 1),
            text_source="page",
            fetched_at=DAY1,
            canonical_url=f"https://a.example/{i}",
            published_at=DAY2 if i else None,
            lang="en",
            archive_record_id=f"<urn:uuid:{i}>",
        )
        for i in range(3)
    ]
    embeddings = fake_embedder.embed([d.text for d in drafts])
    embeddings[:2] = [
        replace(e, title_vector=fake_embedder.encode([d.title])[0])
        for e, d in zip(embeddings[:2], drafts[:2], strict=True)
    ]
    back, vectors, _ = from_arrow(to_arrow([(d, "x") for d in drafts[:2]], embeddings[:2]), "f")
    assert all(
        np.array_equal(e.title_vector, v.title_vector)
        for e, v in zip(embeddings[:2], vectors, strict=True)
    )
    table = to_arrow([(d, "keyword: sanction") for d in drafts], embeddings)
    back, vectors, why = from_arrow(table, "/data/a.warc.gz")
    assert why == ["keyword: sanction"] * 3
    for d, b in zip(drafts, back, strict=True):
        assert b.archive_source == "/data/a.warc.gz"
        assert (b.url, b.text, b.published_at, b.fetched_at, b.archive_record_id) == (
            d.url,
            d.text,
            d.published_at,
            d.fetched_at,
            d.archive_record_id,
        )
    assert all(v.title_vector is None for v in vectors)  # not every page had one
    for e, v in zip(embeddings, vectors, strict=True):
        assert np.array_equal(e.vector, v.vector) and e.windows == v.windows
        assert [(c.start_char, c.end_char, c.tokens) for c in e.chunks] == [
            (c.start_char, c.end_char, c.tokens) for c in v.chunks
        ]
        assert all(
            np.array_equal(a.vector, b.vector) for a, b in zip(e.chunks, v.chunks, strict=True)
        )


# -- storing ---------------------------------------------------------------------------------


def _settings(make_settings, batch_size: int = 64):
    return make_settings(f"[backfill]\nbatch_size = {batch_size}\n")


@pytest.mark.model
def test_backfill_stores_in_order_dedups_and_skips_finished_files(
    make_settings, embedder, tmp_path
):
    urls = make_archives(tmp_path / "archives")
    services = Services(_settings(make_settings, batch_size=2), embedder=embedder)
    summary = run_backfill(services, [str(tmp_path / "archives")], BackfillOptions(workers=0))
    c = summary.counts
    assert [p.rsplit("/", 1)[1] for p, _ in summary.failed] == ["CC-NEWS-20240303.warc.gz"]
    assert (c["sources"], c["sources_done"], c["sources_failed"]) == (3, 2, 1)
    assert c["bad_records"] == 1 and c["html_pages"] == 6 and c["passed_prefilter"] == 5
    rows = _rows(services.warehouse)
    stored = {r[0]: r for r in rows}
    assert set(stored) == {
        urls[k] for k in ("sanctions", "imagery", "seed_copy", "espionage", "sanctions_copy")
    }
    # The later reprint copies the earlier article; the page copying a seed names the seed.
    assert stored[urls["sanctions_copy"]][1] == urls["sanctions"]
    assert stored[urls["seed_copy"]][1].startswith("seed:")
    assert stored[urls["sanctions"]][1] is None and stored[urls["espionage"]][1] is None
    assert c["stored"] == 5 and c["duplicates"] == 2
    with services.warehouse.connect(read_only=True) as db:
        done = db.rows(
            "SELECT path, status, stored, duplicates FROM backfill_sources ORDER BY path"
        )
        run = db.one("SELECT status, counts, error FROM runs WHERE job = 'backfill'")
        topics = dict(
            db.rows(
                "SELECT a.canonical_url, list(t.topic) FROM articles a "
                "JOIN article_topics t ON t.article_id = a.id GROUP BY 1"
            )
        )
    assert [(Path(p).name, s, n, d) for p, s, n, d in done] == [
        ("CC-NEWS-20240301.warc.gz", "done", 3, 1),
        ("CC-NEWS-20240302.warc.gz", "done", 2, 1),
        ("CC-NEWS-20240303.warc.gz", "failed", 0, 0),
    ]
    assert run[0] == "error" and "CC-NEWS-20240303" in run[2] and '"stored": 5' in run[1]
    assert "sanctions" in topics[urls["sanctions"]]

    again = run_backfill(services, [str(tmp_path / "archives")], BackfillOptions(workers=0))
    assert again.counts["sources_skipped"] == 2 and again.counts["stored"] == 0
    assert _rows(services.warehouse) == rows


@pytest.mark.model
def test_since_and_until_keep_pages_of_the_window(make_settings, embedder, tmp_path):
    urls = make_archives(tmp_path / "archives")
    services = Services(_settings(make_settings), embedder=embedder)
    run_backfill(
        services,
        [str(tmp_path / "archives" / "CC-NEWS-2024030[12].warc.gz")],
        BackfillOptions(workers=0, since=DAY2.replace(hour=0)),
    )
    assert [r[0] for r in _rows(services.warehouse)] == [urls["espionage"], urls["sanctions_copy"]]


def _cli(settings, *args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--config", settings.source, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.model
@pytest.mark.slow
def test_sigkill_mid_backfill_then_rerun_stores_every_article_once(make_settings, tmp_path):
    urls = make_archives(tmp_path / "archives")
    settings = _settings(make_settings, batch_size=1)
    first = _cli(settings, "-v", "backfill", str(tmp_path / "archives"), "--workers", "0")
    killed = threading.Event()

    def kill_after_first_batch() -> None:
        for line in first.stderr:
            if "backfill batch written" in line:
                first.send_signal(signal.SIGKILL)
                killed.set()
                return

    reader = threading.Thread(target=kill_after_first_batch, daemon=True)
    reader.start()
    with first:  # closes its pipes once it has ended
        try:
            first.wait(timeout=240)
        finally:
            if first.poll() is None:
                first.kill()
            reader.join(10)
    assert killed.is_set(), "the backfill finished (or failed) before its first batch was seen"
    assert first.returncode == -signal.SIGKILL
    from pipeline.embed.factory import make_warehouse

    warehouse = make_warehouse(settings)
    partial = _rows(warehouse)
    assert 1 <= len(partial) < 5

    second = _cli(settings, "backfill", str(tmp_path / "archives"), "--workers", "0")
    out, err = second.communicate(timeout=240)
    # The bad file is reported on one line and the exit status says so; the rest is stored.
    assert second.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert "1 of 3 archive files failed" in last and "CC-NEWS-20240303.warc.gz" in last
    assert "Traceback" not in err and "stored" in out
    rows = _rows(warehouse)
    assert sorted(r[0] for r in rows) == sorted(
        urls[k] for k in ("sanctions", "imagery", "seed_copy", "espionage", "sanctions_copy")
    )
    assert rows[: len(partial)] == partial
    # Nothing is a duplicate of itself or of its own earlier, killed copy.
    assert {r[0]: r[1] for r in rows}[urls["sanctions_copy"]] == urls["sanctions"]
    assert sum(1 for r in rows if r[1] is not None) == 2
    with warehouse.connect(read_only=True) as db:
        assert (
            db.scalar("SELECT count(*) FROM runs WHERE job = 'backfill' AND status = 'abandoned'")
            == 1
        )


def test_a_dry_run_lists_what_it_would_store_and_writes_nothing(make_settings, tmp_path):
    urls = make_archives(tmp_path / "archives")
    settings = _settings(make_settings)
    dry = _cli(
        settings,
        "backfill",
        str(tmp_path / "archives" / "CC-NEWS-20240301.warc.gz"),
        "--dry-run",
        "--workers",
        "0",
        "--format",
        "json",
    )
    out, err = dry.communicate(timeout=240)
    assert dry.returncode == 0, err
    import json

    listed = {row["url"]: row["passed by"] for row in json.loads(out)}
    assert set(listed) == {urls["sanctions"], urls["imagery"], urls["seed_copy"]}
    assert listed[urls["sanctions"]] == "keyword: sanction"
    assert not Path(settings.warehouse.path).exists()


@pytest.mark.model
@pytest.mark.slow
def test_a_two_worker_cluster_stores_what_a_serial_run_stores(make_settings, embedder, tmp_path):
    require_shared(NEWS_PAGES)
    from pipeline.testkit.corpus import load_pages

    make_archives(tmp_path / "archives")
    # Real pages too: most are about something else and stop at the prefilter.
    pages = load_pages(NEWS_PAGES)[:6]
    for n in range(2):
        write_warc(
            tmp_path / "archives" / f"CC-NEWS-2024030{4 + n}.warc.gz",
            [Record(p.url, p.html, date=DAY2) for p in pages[n * 3 : (n + 1) * 3]],
        )
    results = []
    for workers, name in ((0, "serial"), (2, "cluster")):
        settings = make_settings(f'[warehouse]\npath = "{tmp_path / name}.duckdb"\n')
        services = Services(settings, embedder=embedder)
        summary = run_backfill(
            services, [str(tmp_path / "archives")], BackfillOptions(workers=workers)
        )
        assert summary.counts["workers"] == workers
        with services.warehouse.connect(read_only=True) as db:
            results.append(
                (
                    db.rows(
                        "SELECT id, canonical_url, content_hash, duplicate_of, "
                        "duplicate_kind, story_id FROM articles ORDER BY id"
                    ),
                    db.rows("SELECT article_id, topic FROM article_topics ORDER BY 1, 2"),
                    {k: v for k, v in summary.counts.items() if k != "workers"},
                )
            )
    assert results[0] == results[1]
    assert results[0][2]["stored"] >= 5


def test_a_worker_reads_an_archive_over_http_without_embedding(loopback, tmp_path):
    from pipeline.backfill.worker import WorkerJob, process_file
    from pipeline.config.settings import EmbedSettings

    make_archives(tmp_path / "archives")
    path = tmp_path / "archives" / "CC-NEWS-20240301.warc.gz"
    loopback.route("/crawl/a.warc.gz", path.read_bytes(), content_type="application/warc")
    spec = load_spec(REPO / "config" / "topics.toml", REPO / "config" / "watchlist.toml", SEEDS)
    result = process_file(
        loopback.url("/crawl/a.warc.gz"), WorkerJob(EmbedSettings(), spec, embed_pages=False)
    )
    assert result.error is None
    assert result.counts == {
        "records": 6,
        "html_pages": 4,
        "bad_records": 0,
        "not_web_urls": 0,
        "too_large": 0,
        "extracted": 4,
        "in_window": 4,
        "passed": 3,
    }
    drafts, embeddings, why = from_arrow(result.table, "x")
    assert embeddings is None and len(drafts) == 3 and all(why)
    missing = process_file(
        loopback.url("/crawl/missing.warc.gz"), WorkerJob(EmbedSettings(), spec, embed_pages=False)
    )
    assert missing.error and missing.table is None


HOSTILE_URIS = ["javascript:alert(document.domain)//x", "data:text/html,<script>x()</script>", ""]


def test_archives_store_only_web_urls_and_nothing_renders_another_link(
    make_settings, fake_embedder, tmp_path
):
    import re

    from click.testing import CliRunner
    from starlette.testclient import TestClient

    from pipeline.cli import cli
    from pipeline.web.server import build
    from tests.helpers import make_pipeline

    settings = make_settings('[backfill]\nprefilter = "none"\n')
    services = make_pipeline(settings, fake_embedder)
    good = "https://news.example.com/2024/03/01/sanctions-hong-kong"
    hostile = [
        Record(uri, _page(f"Imagery report {i}", [f"Report {i}.", *IMAGERY]), date=DAY1)
        for i, uri in enumerate(HOSTILE_URIS)
    ]
    archive = write_warc(
        tmp_path / "hostile.warc.gz",
        [*hostile, Record(good, _page("Treasury sanctions Hong Kong firms", SANCTIONS), date=DAY1)],
    )
    summary = run_backfill(services, [str(archive)], BackfillOptions(workers=0))
    assert summary.counts["not_web_urls"] == len(HOSTILE_URIS), summary.counts
    with services.warehouse.connect(read_only=True) as db:
        urls = [r[0] for r in db.rows("SELECT url FROM articles WHERE archive_source IS NOT NULL")]
        run = db.one("SELECT counts FROM runs WHERE job = 'backfill'")
    assert urls == [good] and '"not_web_urls": 3' in run[0]

    # A warehouse an earlier release filled holds such a URL: no page or digest links it.
    with services.warehouse.transaction() as db:
        db.execute("UPDATE articles SET url = ? WHERE url = ?", [HOSTILE_URIS[0], good])
        article_id, story_id = db.one(
            "SELECT id, coalesce(story_id, id) FROM articles WHERE url = ?", [HOSTILE_URIS[0]]
        )
    preview = tmp_path / "digest.html"
    result = CliRunner().invoke(
        cli,
        ["--config", settings.source, "digest", "--week", "2024-W09", "--preview", str(preview)],
    )
    assert result.exit_code == 0, result.output
    app = build(
        settings,
        services.warehouse,
        "127.0.0.1",
        8470,
        encoder=lambda: fake_embedder,
        clock=lambda: DAY1,
        env={},
    )
    client = TestClient(app, base_url="http://127.0.0.1:8470", follow_redirects=False)
    pages = [preview.read_text(encoding="utf-8")]
    for path in (
        "/?since=2024-02-20&all=1",
        f"/stories/{story_id}",
        f"/articles/{article_id}",
        "/search?q=sanctions&since=2024-01-01",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        pages.append(response.text)
    assert "Treasury sanctions Hong Kong firms" in pages[0]
    # (the digest's chart is an inline data: image of its own: src is not a link)
    web = r"(?:/|https?://|#)"
    links = re.compile(
        rf"""(?:href|action|formaction)\s*=\s*(?:"(?!{web})|'(?!{web})|(?!["']|{web}))\S{{0,40}}"""
    )
    for page in pages:
        assert not links.search(page), links.search(page)
        assert not re.search(r"""=\s*["']?\s*javascript:""", page, re.IGNORECASE)


def test_archives_have_the_fetch_caps_and_a_deeply_nested_page_keeps_its_body(
    make_settings, fake_embedder, tmp_path
):
    from tests.helpers import make_pipeline

    cap = 1_048_576
    settings = make_settings(
        f'[backfill]\nprefilter = "none"\n[http]\nmax_body_bytes = {cap}\n'
        f"allow_private_networks = true\nper_host_delay_s = 0.0\n"
    )
    services = make_pipeline(settings, fake_embedder)
    huge = _page("A page far over the cap", SANCTIONS * (cap // 200))
    assert len(huge) > 2 * cap
    # Laid out in tables nested a hundred deep: more than the HTML parser's nesting limit.
    body = "".join(f"<p>{p}</p>" for p in IMAGERY + ESPIONAGE)
    for _ in range(100):
        body = f"<table><tr><td>{body}</td></tr></table>"
    deep = (
        "<!doctype html><html lang='en'><head><title>Deep layout | Example</title></head>"
        f"<body><nav><a href='/'>Home</a></nav>{body}<footer>Example News</footer></body></html>"
    ).encode()
    archive = write_warc(
        tmp_path / "bounds.warc.gz",
        [
            Record("https://huge.example/page", huge, date=DAY1),
            Record("https://deep.example/layout", deep, date=DAY1),
        ],
    )
    summary = run_backfill(services, [str(archive)], BackfillOptions(workers=0))
    assert summary.counts["too_large"] == 1 and summary.counts["stored"] == 1, summary.counts
    with services.warehouse.connect(read_only=True) as db:
        [(url, text)] = db.rows("SELECT url, text FROM articles WHERE archive_source IS NOT NULL")
    assert url == "https://deep.example/layout"
    assert all(p in text for p in IMAGERY + ESPIONAGE), text[:200]


KILLED_IN_SECOND_BATCH = """
import sys, time
from pipeline.backfill.run import BackfillOptions, run_backfill
from pipeline.config.settings import load_settings
from pipeline.ingest import Services
from pipeline.ingest.writer import Writer
from pipeline.testkit.fakes import FakeEmbedder

store, calls = Writer.store, []

def second_batch_waits(self, *args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the first batch is committed; this one holds the writer lock
        print("in the second batch", flush=True)
        time.sleep(60)
    return store(self, *args, **kwargs)

Writer.store = second_batch_waits
services = Services(load_settings(sys.argv[1], env={}), embedder=FakeEmbedder())
run_backfill(services, [sys.argv[2]], BackfillOptions(workers=0))
"""


def test_a_killed_backfill_is_one_abandoned_run_that_counts_what_it_stored(
    make_settings, fake_embedder, tmp_path
):
    from tests.helpers import child_env, make_pipeline

    settings = make_settings('[backfill]\nbatch_size = 1\nprefilter = "none"\n')
    services = make_pipeline(settings, fake_embedder)
    archive = write_warc(
        tmp_path / "three.warc.gz",
        [
            Record(f"https://news.example.com/{name}", _page(f"Report {name}", paras), date=DAY1)
            for name, paras in (("a", SANCTIONS), ("b", IMAGERY), ("c", ESPIONAGE))
        ],
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_IN_SECOND_BATCH, settings.source, str(archive)],
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout.readline().strip() == "in the second batch"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    # The rerun finds the killed run's record in the backfill's own lock and in the writer lock.
    summary = run_backfill(services, [str(archive)], BackfillOptions(workers=0))
    assert summary.counts["stored"] == 2 and summary.counts["known_urls"] == 1
    with services.warehouse.connect(read_only=True) as db:
        rows = db.rows(
            "SELECT status, pid, counts, error FROM runs WHERE job = 'backfill' ORDER BY id"
        )
    [abandoned] = [r for r in rows if r[0] == "abandoned"]
    assert abandoned[1] == proc.pid and '"stored": 1' in abandoned[2], abandoned
    assert "committed batches (1 article stored) are kept" in abandoned[3], abandoned[3]
    assert "its work was rolled back" not in abandoned[3]
    assert [r[0] for r in rows] == ["abandoned", "ok"]
