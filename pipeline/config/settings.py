"""Layered settings: built-in defaults < settings file < NEWSWATCH_* environment < command-line
flags.

Every key is declared once in pipeline/config/schema.py, with its type and what values are
allowed (re-exported here, where the rest of newswatch imports them); the file and the
environment are validated against that declaration once, at start-up, and the first problem is
reported on one line naming where it came from, the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

from pipeline.config.schema import (
    SECTIONS,
    AlertsSettings,
    BackfillSettings,
    DedupSettings,
    DigestSettings,
    EmbedSettings,
    FeedsSettings,
    HttpSettings,
    IngestSettings,
    LogSettings,
    ScheduleSettings,
    SearchSettings,
    SeedsSettings,
    Settings,
    SmtpSettings,
    TopicsSettings,
    WarehouseSettings,
    WatchlistSettings,
    WebSettings,
)
from pipeline.config.tomlfile import read_toml
from pipeline.errors import ConfigError

__all__ = [
    "AlertsSettings",
    "BackfillSettings",
    "ConfigError",
    "DedupSettings",
    "DigestSettings",
    "ENV_ALERT_SECRET_PREFIX",
    "ENV_CONFIG",
    "ENV_PREFIX",
    "ENV_SMTP_PASSWORD",
    "ENV_WAREHOUSE",
    "EmbedSettings",
    "FeedsSettings",
    "HttpSettings",
    "IngestSettings",
    "LogSettings",
    "PROJECT_CONFIG_DIR",
    "SECTIONS",
    "ScheduleSettings",
    "SearchSettings",
    "SeedsSettings",
    "Settings",
    "SmtpSettings",
    "TopicsSettings",
    "WarehouseSettings",
    "WatchlistSettings",
    "WebSettings",
    "default_config_path",
    "load_settings",
    "render_settings",
    "with_overrides",
]

ENV_PREFIX = "NEWSWATCH_"
#: Environment variables with a meaning of their own rather than `<SECTION>_<KEY>`.
ENV_CONFIG = "NEWSWATCH_CONFIG"
ENV_WAREHOUSE = "NEWSWATCH_WAREHOUSE"
ENV_SMTP_PASSWORD = "NEWSWATCH_SMTP_PASSWORD"
_SPECIAL_ENV = {ENV_CONFIG, ENV_WAREHOUSE, ENV_SMTP_PASSWORD}
#: Alert channels' secrets (webhook URLs, tokens): alerts.toml names them, settings leave them be.
ENV_ALERT_SECRET_PREFIX = "NEWSWATCH_ALERT_"

#: The project's own `config/` folder (an editable install or a source checkout).
PROJECT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def _type_name(tp: Any) -> str:
    return {
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a path (string)",
        list[str]: "a list of strings",
    }.get(tp, str(tp))


def _section_types(section_cls: type) -> dict[str, dataclasses.Field]:
    hints = {f.name: f for f in fields(section_cls)}
    return hints


def _resolve_type(section_cls: type, name: str) -> Any:
    return get_type_hints(section_cls)[name]


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check a TOML value against the declared type; ints are accepted where numbers are."""
    ok = False
    if tp is bool:
        ok = isinstance(value, bool)
    elif tp is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif tp is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif tp in (str, Path):
        ok = isinstance(value, str)
    elif tp == list[str]:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    if not ok:
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def _parse_env(raw: str, tp: Any, where: str) -> Any:
    """Turn an environment string into the declared type."""
    try:
        if tp is bool:
            low = raw.strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(raw)
        if tp is float:
            return float(raw)
        if tp == list[str]:
            return [part.strip() for part in raw.split(",") if part.strip()]
        return raw
    except ValueError:
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {raw!r}") from None


def _check_allowed(value: Any, meta: Mapping[str, Any], where: str) -> None:
    lo, hi, choices, check = meta.get("lo"), meta.get("hi"), meta.get("choices"), meta.get("check")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: {value!r} is not allowed; use one of {', '.join(choices)}")
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric and ((lo is not None and value < lo) or (hi is not None and value > hi)):
        raise ConfigError(f"{where}: {value!r} is out of range; allowed {lo:g} to {hi:g}")
    if check is not None:
        problem = check(value)
        if problem:
            raise ConfigError(f"{where}: {value!r} is not allowed; expected {problem}")


def default_config_path(env: Mapping[str, str]) -> Path | None:
    """The settings file used when --config is not given: NEWSWATCH_CONFIG, ./config, the
    project's."""
    if env.get(ENV_CONFIG):
        return Path(env[ENV_CONFIG])
    for candidate in (
        Path.cwd() / "config" / "settings.toml",
        PROJECT_CONFIG_DIR / "settings.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    config_path: str | Path | None = None,
    *,
    warehouse: str | Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Load, layer and validate the settings; raise ConfigError naming file, key and what is
    allowed."""
    env = dict(os.environ if env is None else env)
    data, base, source = _read_settings_file(config_path, env)
    values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    _layer_file(values, data, source, base)
    _layer_env(values, env)
    if env.get(ENV_WAREHOUSE):
        values["warehouse"]["path"] = Path(env[ENV_WAREHOUSE]).expanduser().resolve()
    if warehouse is not None:
        values["warehouse"]["path"] = Path(warehouse).expanduser().resolve()
    if env.get(ENV_SMTP_PASSWORD):
        values["smtp"]["password"] = env[ENV_SMTP_PASSWORD]
    return _assemble(values, base, source)


def _read_settings_file(
    config_path: str | Path | None, env: Mapping[str, str]
) -> tuple[dict[str, Any], Path, str]:
    """The settings file's tables, the folder its relative paths start from, and its name."""
    explicit = config_path is not None or bool(env.get(ENV_CONFIG))
    path = Path(config_path) if config_path is not None else default_config_path(env)
    if path is None:
        return {}, Path.cwd(), "defaults"
    path = path.expanduser()
    if not path.is_file():
        origin = "--config" if config_path is not None else ENV_CONFIG
        raise ConfigError(
            f"{path}: settings file not found (given by {origin})"
            if explicit
            else f"{path}: settings file not found"
        )
    return read_toml(path, "settings file"), path.resolve().parent, str(path)


def _layer_file(
    values: dict[str, dict[str, Any]], data: Mapping[str, Any], source: str, base: Path
) -> None:
    """Put the settings file's keys into `values`, each checked against its declaration."""
    for section, table in data.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"{source}: unknown section [{section}]; known sections: {', '.join(SECTIONS)}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        for key, value in table.items():
            values[section][key] = _file_value(section, key, value, source, base)


def _file_value(section: str, key: str, value: Any, source: str, base: Path) -> Any:
    """One key of the settings file, checked, with a path resolved against the file's folder."""
    cls = SECTIONS[section]
    declared = _section_types(cls)
    where = f"{source}: [{section}] {key}"
    if key not in declared:
        raise ConfigError(
            f"{source}: unknown key [{section}] {key}; known keys: "
            f"{', '.join(k for k, f in declared.items() if not f.metadata.get('secret'))}"
        )
    if declared[key].metadata.get("secret"):
        raise ConfigError(
            f"{where}: secrets are read only from the environment; remove it "
            f"and set {ENV_SMTP_PASSWORD}"
        )
    tp = _resolve_type(cls, key)
    value = _coerce(value, tp, where)
    _check_allowed(value, declared[key].metadata, where)
    if tp is Path:
        return (base / Path(value).expanduser()).resolve()
    if declared[key].metadata.get("path") and value:
        return str((base / Path(value).expanduser()).resolve())  # optional path
    return value


def _layer_env(values: dict[str, dict[str, Any]], env: Mapping[str, str]) -> None:
    """Put the NEWSWATCH_<SECTION>_<KEY> variables into `values`, each checked."""
    # The variable that holds the reading room's token is a secret, not a setting.
    token_env = values["web"].get("token_env", WebSettings.token_env)
    for name, raw in sorted(env.items()):
        if (
            not name.startswith(ENV_PREFIX)
            or name in _SPECIAL_ENV
            or name == token_env
            or name.startswith(ENV_ALERT_SECRET_PREFIX)
        ):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, _, key = rest.partition("_")
        if (
            section not in SECTIONS
            or key not in _section_types(SECTIONS[section])
            or _section_types(SECTIONS[section])[key].metadata.get("secret")
        ):
            raise ConfigError(
                f"environment {name}: unknown setting; use NEWSWATCH_<SECTION>_<KEY>, "
                f"e.g. NEWSWATCH_SCHEDULE_POLL_INTERVAL_S"
            )
        cls = SECTIONS[section]
        tp = _resolve_type(cls, key)
        where = f"environment {name}"
        value = _parse_env(raw, tp, where)
        _check_allowed(value, _section_types(cls)[key].metadata, where)
        if tp is Path:
            value = Path(value).expanduser().resolve()
        values[section][key] = value


def _assemble(values: dict[str, dict[str, Any]], base: Path, source: str) -> Settings:
    """The Settings of the layered values, the defaults filling the rest."""
    sections: dict[str, Any] = {}
    for name, cls in SECTIONS.items():
        resolved = {}
        for f in fields(cls):
            if f.name in values[name]:
                resolved[f.name] = values[name][f.name]
            elif f.metadata.get("path") and isinstance(f.default, str) and f.default:
                # A relative default path resolves against the settings file's folder.
                resolved[f.name] = (base / f.default).resolve()
        sections[name] = cls(**resolved)
    return Settings(**sections, source=source)


def with_overrides(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """Return a copy with some keys replaced, e.g. with_overrides(s, http={"concurrency": 4})."""
    replaced = {
        name: dataclasses.replace(getattr(settings, name), **dict(changes))
        for name, changes in sections.items()
    }
    return dataclasses.replace(settings, **replaced)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def render_settings(settings: Settings) -> str:
    """The effective settings as TOML, secrets masked, each key with its help as a comment."""
    lines = [f"# effective settings; file: {settings.source}"]
    for name in SECTIONS:
        section = getattr(settings, name)
        lines.append("")
        lines.append(f"[{name}]")
        for f in fields(section):
            value = getattr(section, f.name)
            if f.metadata.get("secret"):
                shown = '"********"' if value else '""'
                lines.append(f"# {f.name} = {shown}  # {f.metadata['help']}")
                continue
            lines.append(f"{f.name} = {_toml_value(value)}  # {f.metadata['help']}")
    return "\n".join(lines) + "\n"
