"""The file contexts a module package carries (its .fc after m4), read back with semodule_unpackage."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import run
from tooling.selinux.cil import decompressed

# file types in a .fc line: -- (regular), -d, -l, -c, -b, -s, -p
_KINDS = {"--", "-d", "-l", "-c", "-b", "-s", "-p"}


@dataclass(frozen=True)
class FileContext:
    regex: str
    kind: str  # "" for any kind of file
    context: str  # user:role:type[:level] or <<none>>

    @property
    def type(self) -> str | None:
        parts = self.context.split(":")
        return parts[2] if len(parts) >= 3 else None

    def matches(self, path: str) -> bool:
        try:
            return re.fullmatch(self.regex, path) is not None
        except re.error:
            return False

    def __str__(self) -> str:
        return " ".join(p for p in (self.regex, self.kind, self.context) if p)


def parse_file_contexts(text: str) -> list[FileContext]:
    """Entries of a file_contexts text (pure): comments and blank lines skipped."""
    out: list[FileContext] = []
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 3 and fields[1] in _KINDS:
            out.append(FileContext(fields[0], fields[1], fields[2]))
        elif len(fields) == 2:
            out.append(FileContext(fields[0], "", fields[1]))
    return out


def module_file_contexts(pp: Path, workdir: Path) -> list[FileContext]:
    if shutil.which("semodule_unpackage") is None:
        raise ForkliftError("semodule_unpackage is not installed", hint="install semodule-utils (Debian) or policycoreutils")
    plain = decompressed(pp, workdir)
    mod, fc = workdir / "unpacked.mod", workdir / "unpacked.fc"
    run(["semodule_unpackage", plain, mod, fc])
    return parse_file_contexts(fc.read_text(encoding="utf-8"))
