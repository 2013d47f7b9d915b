"""`newswatch export`: month-partitioned Parquet that other tools read, re-runs without
duplicates, --since rewriting only recent months."""

from __future__ import annotations

import json

import duckdb
import pyarrow.dataset as ds
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.ingest import run_cycle
from pipeline.testkit.server import rss
from tests.helpers import article_page, make_pipeline, paragraphs, write_feeds


def test_export_writes_month_partitions_readable_without_newswatch(
    make_settings, fake_embedder, loopback, tmp_path
):
    settings = make_settings()
    services = make_pipeline(settings, fake_embedder)
    items = []
    for i, day in enumerate(
        [
            "Mon, 05 Oct 2026 10:00:00 GMT",
            "Tue, 20 Oct 2026 10:00:00 GMT",
            "Wed, 04 Nov 2026 10:00:00 GMT",
        ]
    ):
        loopback.route(
            f"/a{i}.html",
            article_page(f"Treasury sanctions firm {i}", paragraphs(f"sanctions firm {i}")),
        )
        items.append(
            {
                "title": f"Treasury sanctions firm {i}",
                "link": loopback.url(f"/a{i}.html"),
                "guid": f"g{i}",
                "description": "Teaser.",
                "pubDate": day,
            }
        )
    loopback.route("/feed.xml", rss(items), content_type="application/rss+xml")
    write_feeds(settings, [loopback.url("/feed.xml")])
    assert run_cycle(services).articles_new == 3
    out = tmp_path / "lake"
    result = CliRunner().invoke(
        cli, ["--config", settings.source, "export", str(out), "--embeddings"]
    )
    assert result.exit_code == 0, result.output
    # Each feed article sits in its publication month; the seeds sit in the month they were
    # stored (today's, whatever today is), so only the feed's months are named here.
    months = {p.name for p in (out / "articles").iterdir()}
    assert {"month=2026-10", "month=2026-11"} <= months
    # pyarrow (what pandas and Spark use) and DuckDB read it as it is.
    table = ds.dataset(out / "articles", partitioning="hive").to_table()
    feed_rows = [r for r in table.to_pylist() if r["source"] == "feed"]
    assert sorted((r["title"][-1], r["month"]) for r in feed_rows) == [
        ("0", "2026-10"),
        ("1", "2026-10"),
        ("2", "2026-11"),
    ]
    assert sorted(r["title"] for r in feed_rows) == [
        f"Treasury sanctions firm {i}" for i in range(3)
    ]
    assert all(isinstance(r["topics"], list) for r in feed_rows)
    con = duckdb.connect()
    n = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/embeddings/*/*.parquet', "
        f"hive_partitioning = true)"
    ).fetchone()[0]
    assert n == table.num_rows
    stories = ds.dataset(out / "stories", partitioning="hive").to_table().to_pylist()
    assert {s["lead_title"] for s in stories} >= {"Treasury sanctions firm 0"}
    manifest = json.loads((out / "_newswatch_export.json").read_text())
    assert manifest["rows"]["articles"] == table.num_rows

    # Again: nothing doubles. With --since only November is rewritten.
    again = CliRunner().invoke(cli, ["--config", settings.source, "export", str(out)])
    assert again.exit_code == 0
    assert ds.dataset(out / "articles", partitioning="hive").to_table().num_rows == table.num_rows
    october = sorted((out / "articles" / "month=2026-10").iterdir())
    since = CliRunner().invoke(
        cli, ["--config", settings.source, "export", str(out), "--since", "2026-11-15"]
    )
    # From November on: the feed's November and the seeds' month, never October.
    assert since.exit_code == 0 and "month(s) (2026-11 to " in since.output
    assert sorted((out / "articles" / "month=2026-10").iterdir()) == october
    assert ds.dataset(out / "articles", partitioning="hive").to_table().num_rows == table.num_rows
    assert not [p for p in out.rglob(".staging-*")]


def test_export_refuses_the_warehouse_folder(make_settings, fake_embedder):
    settings = make_settings()
    make_pipeline(settings, fake_embedder)
    result = CliRunner().invoke(
        cli, ["--config", settings.source, "export", str(settings.warehouse.path.parent)]
    )
    assert result.exit_code != 0 and "does not hold the warehouse" in result.output
    with make_pipeline(settings, fake_embedder).warehouse.connect(read_only=True) as db:
        assert db.scalar("SELECT count(*) FROM articles WHERE source = 'seed'") == 5


def _month_feed(settings, fake_embedder, loopback):
    """A pipeline holding one feed article published in March 2024."""
    services = make_pipeline(settings, fake_embedder)
    loopback.route(
        "/march.html", article_page("Treasury sanctions firm", paragraphs("sanctions firm march"))
    )
    item = {
        "title": "Treasury sanctions firm",
        "link": loopback.url("/march.html"),
        "guid": "march",
        "description": "Teaser.",
        "pubDate": "Tue, 05 Mar 2024 10:00:00 GMT",
    }
    loopback.route("/feed.xml", rss([item]), content_type="application/rss+xml")
    write_feeds(settings, [loopback.url("/feed.xml")])
    assert run_cycle(services).articles_new == 1
    return services


def test_export_deletes_nothing_it_did_not_write(make_settings, fake_embedder, loopback, tmp_path):
    settings = make_settings()
    _month_feed(settings, fake_embedder, loopback)
    out = tmp_path / "lake"
    # A user's folder: a file inside a month this export writes, a month it never produces,
    # a file of its own at the top.
    mine = {
        out / "articles" / "month=2024-03" / "notes.txt": b"my notes \x00\xff",
        out / "articles" / "month=1999-01" / "part-0.parquet": b"not newswatch's",
        out / "README.md": b"# my lake\n",
    }
    for path, data in mine.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def export(*extra):
        return CliRunner().invoke(cli, ["--config", settings.source, "export", str(out), *extra])

    def intact():
        return all(p.read_bytes() == data for p, data in mine.items())

    refused = export()
    assert refused.exit_code != 0 and "--force" in refused.output, refused.output
    assert intact() and not (out / "_newswatch_export.json").exists()
    forced = export("--force")
    assert forced.exit_code == 0, forced.output
    assert intact()
    part = out / "articles" / "month=2024-03" / "part-0.parquet"
    table = ds.dataset(part, format="parquet").to_table()
    assert "Treasury sanctions firm" in table.column("title").to_pylist()
    # A later export (full, then --since) replaces what it wrote and still nothing else.
    for extra in ((), ("--since", "2024-03")):
        again = export(*extra)
        assert again.exit_code == 0, again.output
        assert intact()
    rows = ds.dataset(part, format="parquet").to_table()
    assert rows.num_rows == table.num_rows
    manifest = json.loads((out / "_newswatch_export.json").read_text())
    assert manifest["files"]["articles"]["2024-03"] == ["part-0.parquet"]
    assert "1999-01" not in manifest["files"]["articles"]


def test_export_creates_a_missing_folder_and_never_replaces_a_users_file(
    make_settings, fake_embedder, loopback, tmp_path
):
    settings = make_settings()
    _month_feed(settings, fake_embedder, loopback)
    fresh = tmp_path / "new" / "lake"
    result = CliRunner().invoke(cli, ["--config", settings.source, "export", str(fresh)])
    assert result.exit_code == 0, result.output
    assert (fresh / "_newswatch_export.json").is_file()
    # Under --force a file of the user's in the way of one newswatch writes stops the export.
    other = tmp_path / "other"
    theirs = other / "articles" / "month=2024-03" / "part-0.parquet"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b"the user's part-0")
    forced = CliRunner().invoke(cli, ["--config", settings.source, "export", str(other), "--force"])
    assert forced.exit_code != 0 and "did not write" in forced.output, forced.output
    assert theirs.read_bytes() == b"the user's part-0"
    assert not [p for p in other.rglob(".staging-*")]
