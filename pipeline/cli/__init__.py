"""The `newswatch` command line: thin click commands over the library.

Each command lives in its own module and is added to `cli` by name below: a command module that
is missing fails at start, loudly. Expected failures (NewswatchError) print one line on stderr and
exit non-zero; nothing prints a traceback.
"""

from __future__ import annotations

import sys

import click

from pipeline.app.logconfig import configure_logging
from pipeline.cli import (
    backfill,
    core,
    daemon,
    dedup,
    digest,
    export,
    feeds,
    ingest,
    marks,
    search,
    serve,
    status,
    topics,
    watch,
)
from pipeline.cli.app import App, NewswatchGroup


@click.group(
    cls=NewswatchGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Settings file (default: $NEWSWATCH_CONFIG, else config/settings.toml).",
)
@click.option(
    "--warehouse",
    type=click.Path(dir_okay=False),
    default=None,
    help="DuckDB warehouse file (default: $NEWSWATCH_WAREHOUSE, else [warehouse] path).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="Log line format (default: [log] format).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="newswatch", prog_name="newswatch")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    warehouse: str | None,
    log_format: str | None,
    verbose: bool,
) -> None:
    """newswatch: poll news feeds, extract, embed, deduplicate, tag and store articles in DuckDB."""
    app = App(config_path=config_path, warehouse_path=warehouse)
    ctx.obj = app
    settings = app.settings  # validated once, here, before any command runs
    configure_logging(log_format or settings.log.format, "debug" if verbose else settings.log.level)


def _register() -> None:
    for command in (
        core.init,
        core.config_cmd,
        core.sql,
        status.status,
        feeds.feeds,
        ingest.ingest,
        daemon.run,
        digest.digest,
        topics.retag,
        topics.explain,
        dedup.dedup,
        export.export,
        watch.entities,
        watch.alerts,
        search.search,
        serve.serve,
        marks.mark,
        marks.marks,
        backfill.backfill,
    ):
        cli.add_command(command)


def main() -> None:
    """Console-script entry point."""
    try:
        cli.main(prog_name="newswatch")
    except KeyboardInterrupt:
        click.echo("newswatch: interrupted", err=True)
        sys.exit(130)


_register()
