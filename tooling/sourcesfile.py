"""The Fedora `sources` file, parsed as fedpkg (pyrpkg) does.

Two line forms exist:
  - ``SHA512 (file) = <128 hex>`` (and other ``HASHTYPE (file) = hash``), the current form;
  - ``<32 hex>  file`` (two spaces), the old form, which means MD5.
One file may not mix hash types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import DataError

HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128}
_BSD = re.compile(r"^(?P<type>[A-Za-z0-9]+) \((?P<file>[^()/]+|.+)\) = (?P<hash>[0-9a-fA-F]+)$")
_OLD = re.compile(r"^(?P<hash>[0-9a-fA-F]{32})  (?P<file>\S.*)$")


@dataclass(frozen=True)
class SourceHash:
    filename: str
    hashtype: str  # lower-case hashlib name: "sha512", "md5", ...
    hexdigest: str  # lower-case

    def line(self) -> str:
        if self.hashtype == "md5":
            return f"{self.hexdigest}  {self.filename}"
        return f"{self.hashtype.upper()} ({self.filename}) = {self.hexdigest}"


def parse(text: str, path: Path | str = "sources") -> list[SourceHash]:
    entries: list[SourceHash] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        where = f"line {lineno}"
        m = _BSD.match(line)
        if m:
            hashtype = m["type"].lower()
            if hashtype not in HASH_LENGTHS:
                raise DataError(path, where, f"unknown hash type {m['type']!r}", hint="use SHA512 (file) = <hash>")
            entry = SourceHash(m["file"], hashtype, m["hash"].lower())
        else:
            m = _OLD.match(line)
            if not m:
                raise DataError(
                    path, where, f"not a sources line: {raw!r}",
                    hint="expected 'SHA512 (file) = <128 hex digits>' (or the old '<md5>  file' form)",
                )
            entry = SourceHash(m["file"], "md5", m["hash"].lower())
        if "/" in entry.filename:
            raise DataError(path, where, f"file name {entry.filename!r} must not contain '/'")
        want = HASH_LENGTHS[entry.hashtype]
        if len(entry.hexdigest) != want:
            raise DataError(
                path, where,
                f"{entry.hashtype.upper()} hash of {entry.filename} has {len(entry.hexdigest)} hex digits, expected {want}",
            )
        if entry.filename in seen:
            raise DataError(path, where, f"{entry.filename} is listed twice (first on line {seen[entry.filename]})")
        seen[entry.filename] = lineno
        entries.append(entry)
    types = {e.hashtype for e in entries}
    if len(types) > 1:
        raise DataError(
            path, None, f"mixed hash types ({', '.join(sorted(types))}); a sources file uses one",
            hint="re-hash every file with SHA512 (invoke new-version or sha512sum --tag)",
        )
    return entries


def load(path: Path) -> list[SourceHash]:
    if not path.exists():
        return []
    return parse(path.read_text(encoding="utf-8"), path)


def dump(entries: list[SourceHash]) -> str:
    return "".join(e.line() + "\n" for e in entries)
