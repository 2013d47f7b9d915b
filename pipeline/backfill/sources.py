"""SOURCE arguments → the archive files they name, and what identifies each file's content.

A SOURCE is a WARC(.gz) file, a folder or glob of them, or a list file naming them one per line
(local paths or URLs; anything fsspec opens, so object stores work where their fsspec package
is installed). Lines of a list file that are relative paths resolve against the list's folder.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs

from pipeline.errors import NewswatchError

_WARC_SUFFIXES = (".warc", ".warc.gz", ".arc.gz")
#: Bytes hashed at each end of a file for its fingerprint.
FINGERPRINT_BYTES = 64 * 1024


class SourceError(NewswatchError):
    """A SOURCE argument names nothing that can be read."""


@dataclass(frozen=True)
class ArchiveFile:
    """One archive file: where it is, and what tells a changed file from the one recorded."""

    path: str  # as given or listed (a local path or a URL)
    size: int | None = None
    version: str | None = None  # mtime of a local file; ETag or Last-Modified of a remote one
    fingerprint: str | None = None  # sha256 of the first and last FINGERPRINT_BYTES

    @property
    def key(self) -> tuple:
        """What must match a recorded finished file for this one to be skipped."""
        return (self.size, self.version, self.fingerprint)


def is_warc_name(path: str) -> bool:
    """Whether a file name says WARC."""
    return path.lower().endswith(_WARC_SUFFIXES)


def _protocol(path: str) -> str:
    return path.split("://", 1)[0] if "://" in path else "file"


def expand(sources: list[str]) -> list[str]:
    """The archive files the SOURCE arguments name, each once, in argument order and by name
    within a folder, glob or list (archives name their files by crawl time)."""
    out: list[str] = []
    for source in sources:
        found = _expand_one(source)
        if not found:
            raise SourceError(
                f"{source}: no WARC files found (expected .warc or .warc.gz files, "
                f"a folder or glob of them, or a text file listing them)"
            )
        out.extend(found)
    return list(dict.fromkeys(out))  # each file once, in the order first named


def _expand_one(source: str) -> list[str]:
    try:
        fs, path = url_to_fs(source)
    except (ImportError, ValueError) as exc:
        raise SourceError(f"{source}: cannot open: {exc}") from None
    protocol = _protocol(source)

    def named(p: str) -> str:
        # fsspec lists remote files without their protocol; keep it so they open again.
        return p if protocol == "file" or "://" in p else f"{protocol}://{p}"

    try:
        if any(ch in source for ch in "*?[") and protocol not in ("http", "https"):
            return sorted(named(p) for p in fs.glob(path) if is_warc_name(p))
        if protocol in ("http", "https"):
            return [source] if is_warc_name(source.split("?")[0]) else _read_list(source)
        if fs.isdir(path):
            return sorted(named(p) for p in fs.find(path) if is_warc_name(p))
        if not fs.exists(path):
            raise SourceError(f"{source}: no such file or folder")
    except SourceError:
        raise
    except Exception as exc:  # fsspec backends raise their own kinds (OSError, botocore...)
        raise SourceError(f"{source}: cannot list: {exc}") from None
    return [source] if is_warc_name(source) else _read_list(source)


def _read_list(source: str) -> list[str]:
    try:
        with fsspec.open(source, "rt", encoding="utf-8", compression="infer") as f:
            lines = [line.strip() for line in f]
    except UnicodeDecodeError:
        raise SourceError(
            f"{source}: neither a WARC file (.warc, .warc.gz) nor a text list of them"
        ) from None
    except Exception as exc:
        raise SourceError(f"{source}: cannot read list: {exc}") from None
    base = posixpath.dirname(source)
    out = []
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if "://" not in line and not line.startswith("/"):
            line = posixpath.join(base, line) if base else line
        out.append(line)
    return out


def describe(path: str) -> ArchiveFile:
    """Size, version and fingerprint of one archive file (OSError and fsspec's errors pass)."""
    fs, inner = url_to_fs(path)
    info = fs.info(inner)
    size = info.get("size")
    version = None
    for key in (
        "mtime",
        "ETag",
        "etag",
        "LastModified",
        "last_modified",
        "Last-Modified",
        "created",
    ):
        if info.get(key) is not None:
            version = f"{key}={info[key]}"
            break
    digest = hashlib.sha256()
    with fs.open(inner, "rb") as f:
        digest.update(f.read(FINGERPRINT_BYTES))
        if size and size > 2 * FINGERPRINT_BYTES:
            f.seek(size - FINGERPRINT_BYTES)
            digest.update(f.read(FINGERPRINT_BYTES))
        elif size is None:
            digest.update(f.read())
    return ArchiveFile(path, size, version, digest.hexdigest())
