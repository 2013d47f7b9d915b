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
