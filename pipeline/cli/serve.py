"""`newswatch serve`: the reading room in the browser, in the foreground."""

from __future__ import annotations

import click

from pipeline.cli.app import App, pass_app
from pipeline.errors import WarehouseError


@click.command()
@click.option("--host", default=None, help="Address to listen on (default: [web] host, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Port (default: [web] port, 8470)."
)
@pass_app
def serve(app: App, host: str | None, port: int | None) -> None:
    """Serve the reading room: the stories, each story across outlets and languages, articles,
    entities, search, feeds, alerts and SQL, every page also as JSON (read-only).

    Listens on 127.0.0.1 unless told otherwise; any other address needs a login token in the
    variable [web] token_env names. Stops on Ctrl-C or SIGTERM.
    """
    # Deferred: the web server loads Starlette, uvicorn and the ingest stack (~2.5 s), for this
    # command alone.
    from pipeline.ingest import Services  # loads the models' libraries: not for --help
    from pipeline.web.server import Address, build, check_free, serve_forever

    settings = app.settings
    warehouse = app.warehouse
    address = Address(host or settings.web.host, port or settings.web.port)
    web = build(
        settings,
        warehouse,
        address.host,
        address.port,
        services=lambda: Services(settings, warehouse=warehouse),
    )
    if not warehouse.exists():
        raise WarehouseError(f"{warehouse.path}: no warehouse here; run `newswatch init` first")
    check_free(address)
    click.echo(f"newswatch: the reading room is at {address.url} (Ctrl-C stops it)", err=True)
    serve_forever(web, address)
