"""What every command shares: the settings (loaded once), the warehouse, error handling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import click

from pipeline.config.settings import Settings, load_settings
from pipeline.embed.factory import make_warehouse
from pipeline.errors import NewswatchError
from pipeline.store.db import Warehouse


class NewswatchGroup(click.Group):
    """A click group that turns expected errors into one line on stderr and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewswatchError as exc:
            click.echo(f"newswatch: {exc.prefix}{exc}", err=True)
            ctx.exit(exc.exit_code)


@dataclass
class App:
    """Lazily built shared state of one command invocation."""

    config_path: str | None = None
    warehouse_path: str | None = None
    _settings: Settings | None = field(default=None, init=False)

    @property
    def settings(self) -> Settings:
        """The validated settings."""
        if self._settings is None:
            self._settings = load_settings(self.config_path, warehouse=self.warehouse_path)
        return self._settings

    @property
    def warehouse(self) -> Warehouse:
        """The warehouse the settings name."""
        return make_warehouse(self.settings)


pass_app = click.make_pass_decorator(App)
