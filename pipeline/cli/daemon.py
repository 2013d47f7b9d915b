"""`newswatch run`: start the daemon in the foreground (systemd, Docker or a terminal)."""

from __future__ import annotations

import sys

import click

from pipeline.cli.app import App, pass_app
from pipeline.config.settings import Settings, load_settings


@click.command()
@pass_app
def run(app: App) -> None:
    """Run the daemon: poll feeds, send the weekly digest, maintain the warehouse.

    Stops cleanly on SIGTERM or Ctrl-C (the batch in progress is committed first) and reloads
    its settings on SIGHUP. Only one daemon runs per warehouse.
    """
    # Deferred: the daemon loads the ingest stack and the web server (~2 s); other commands
    # never need them.
    from pipeline.app.daemon import Daemon
    from pipeline.web.server import beside_daemon

    def reload() -> Settings:
        return load_settings(app.config_path, warehouse=app.warehouse_path)

    sys.exit(Daemon(app.settings, reload, companion=beside_daemon).run())
