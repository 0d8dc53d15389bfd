"""Where a source may be found: an ordered list of mirrors.

Kinds:
  upstream   the source's own URL from package.toml (implicitly first unless listed)
  lookaside  Fedora-style dist-git lookaside: <url>/<package>/<file>/<hashtype>/<hash>/<file>
             (old MD5 entries: <url>/<package>/<file>/<hash>/<file>)
  url        a flat HTTP directory: <url>/<package>/<file>, then <url>/<file>
  dir        a local directory: <path>/<package>/<file>, then <path>/<file>

Configuration (first found wins): --mirror options; env FORKLIFT_MIRRORS (a TOML
file); ~/.config/forklift/mirrors.toml ($XDG_CONFIG_HOME). The file holds::

    [[mirror]]
    type = "lookaside"
    url = "https://src.fedoraproject.org/repo/pkgs/rpms"

    [[mirror]]
    type = "dir"
    path = "/srv/tarballs"
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import DataError
from tooling.model import Source

KINDS = ("upstream", "lookaside", "url", "dir")
HTTP_KINDS = ("upstream", "lookaside", "url")


@dataclass(frozen=True)
class Mirror:
    kind: str
    location: str = ""  # base URL, or a directory path for kind "dir"; empty for "upstream"

    @property
    def offline_ok(self) -> bool:
        return self.kind == "dir"

    def describe(self) -> str:
        return "upstream URL" if self.kind == "upstream" else f"{self.kind} {self.location}"


@dataclass(frozen=True)
class Location:
    """One place to try for one file: an http(s) URL or a local path."""

    mirror: Mirror
    where: str

    @property
    def is_local(self) -> bool:
        return self.mirror.kind == "dir"


UPSTREAM = Mirror("upstream")


def locations(source: Source, package: str, mirrors: list[Mirror], *, offline: bool) -> list[Location]:
    """Every place to try for ``source``, in order. Offline: local directories only."""
    out: list[Location] = []
    h = source.hash
    for m in with_upstream(mirrors):
        if offline and not m.offline_ok:
            continue
        base = m.location.rstrip("/")
        if m.kind == "upstream":
            if source.url:
                out.append(Location(m, source.url))
        elif m.kind == "lookaside":
            if h is None:
                continue
            if h.hashtype == "md5":
                out.append(Location(m, f"{base}/{package}/{h.filename}/{h.hexdigest}/{h.filename}"))
            else:
                out.append(Location(m, f"{base}/{package}/{h.filename}/{h.hashtype}/{h.hexdigest}/{h.filename}"))
        elif m.kind == "url":
            out.append(Location(m, f"{base}/{package}/{source.file}"))
            out.append(Location(m, f"{base}/{source.file}"))
        else:
            out.append(Location(m, str(Path(m.location) / package / source.file)))
            out.append(Location(m, str(Path(m.location) / source.file)))
    return out


def with_upstream(mirrors: list[Mirror]) -> list[Mirror]:
    return mirrors if any(m.kind == "upstream" for m in mirrors) else [UPSTREAM, *mirrors]


def parse_mirror_option(value: str) -> Mirror:
    """``--mirror`` values: ``lookaside:URL``, ``url:URL``, ``dir:PATH``, ``upstream``;
    a bare http(s) URL is a flat ``url`` mirror, anything else a directory."""
    if value == "upstream":
        return UPSTREAM
    kind, sep, rest = value.partition(":")
    if sep and kind in ("lookaside", "url", "dir") and rest:
        return _checked(Mirror(kind, rest), "--mirror", value)
    if value.startswith(("http://", "https://")):
        return Mirror("url", value)
    return _checked(Mirror("dir", value), "--mirror", value)


def load_config(path: Path) -> list[Mirror]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, None, "mirror configuration file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, None, f"invalid TOML: {exc}") from None
    entries = data.get("mirror", [])
    unknown = sorted(set(data) - {"mirror"})
    if unknown:
        raise DataError(path, unknown[0], "unknown key", hint="mirrors are listed as [[mirror]] tables")
    if not isinstance(entries, list):
        raise DataError(path, "mirror", "expected an array of tables ([[mirror]])")
    out: list[Mirror] = []
    for i, entry in enumerate(entries):
        key = f"mirror[{i}]"
        if not isinstance(entry, dict):
            raise DataError(path, key, "expected a table")
        kind = entry.get("type")
        if kind not in KINDS:
            raise DataError(path, f"{key}.type", f"{kind!r} is not one of {', '.join(KINDS)}")
        extra = sorted(set(entry) - {"type", "url", "path"})
        if extra:
            raise DataError(path, f"{key}.{extra[0]}", "unknown field")
        if kind == "upstream":
            out.append(UPSTREAM)
            continue
        field = "path" if kind == "dir" else "url"
        value = entry.get(field)
        if not isinstance(value, str) or not value:
            raise DataError(path, f"{key}.{field}", f"a {kind} mirror needs `{field}`")
        if kind == "dir":
            value = str((path.parent / os.path.expanduser(value)).resolve())
        out.append(_checked(Mirror(kind, value), str(path), key))
    return out


def _checked(m: Mirror, where: str, key: str) -> Mirror:
    if m.kind in ("lookaside", "url") and not m.location.startswith(("http://", "https://")):
        raise DataError(where, key, f"{m.kind} mirror {m.location!r} is not an http(s) URL")
    if m.kind == "dir":
        return Mirror("dir", str(Path(os.path.expanduser(m.location)).resolve()))
    return m


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "forklift" / "mirrors.toml"


def configured_mirrors(options: list[str] | None = None) -> list[Mirror]:
    """The mirror list: --mirror options if given, else $FORKLIFT_MIRRORS, else the user config."""
    if options:
        return [parse_mirror_option(o) for o in options]
    env = os.environ.get("FORKLIFT_MIRRORS")
    if env:
        return load_config(Path(env))
    path = config_path()
    return load_config(path) if path.exists() else []
