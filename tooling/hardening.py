"""ELF hardening of built RPMs: every shipped executable is a PIE, and every ELF has full
RELRO (PT_GNU_RELRO plus BIND_NOW), as Fedora's packaging guidelines require.

The ELF files are read straight from each RPM's payload (rpm bindings) and parsed with
pyelftools; nothing is unpacked to disk. Justified exceptions live in
specs/hardening.toml, each with its reason, like the rpmlint filters.
"""

from __future__ import annotations

import io
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from tooling.errors import DataError, ForkliftError

EXEMPT_FILE = "hardening.toml"  # in specs/
CHECKS = ("pie", "relro", "bind-now")
DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_PIE = 0x08000000
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ElfFacts:
    """What matters of one ELF file (pure data, from :func:`elf_facts`)."""

    kind: str  # "executable", "shared-object" or "static-executable"
    pie: bool
    relro: bool
    bind_now: bool


@dataclass(frozen=True)
class Finding:
    rpm: str
    path: str
    missing: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.rpm}: {self.path}: not {', '.join(self.missing)}"


@dataclass(frozen=True)
class Exemption:
    path: str
    checks: tuple[str, ...]
    reason: str


def elf_facts(data: bytes) -> ElfFacts | None:
    """The hardening facts of an ELF image, or None when ``data`` is not an ELF object with code."""
    if not data.startswith(ELF_MAGIC):
        return None
    try:
        elf = ELFFile(io.BytesIO(data))
        etype = elf.header["e_type"]
        if etype not in ("ET_EXEC", "ET_DYN"):
            return None  # relocatable objects (.o), core files
        segments = [seg.header.p_type for seg in elf.iter_segments()]
        interp = "PT_INTERP" in segments
        flags = flags_1 = 0
        bind_now = soname = False
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_FLAGS":
                        flags = tag.entry.d_val
                    elif tag.entry.d_tag == "DT_FLAGS_1":
                        flags_1 = tag.entry.d_val
                    elif tag.entry.d_tag == "DT_BIND_NOW":
                        bind_now = True
                    elif tag.entry.d_tag == "DT_SONAME":
                        soname = True
    except (ELFError, ValueError, KeyError) as exc:
        raise ForkliftError(f"unreadable ELF file: {exc}") from None
    bind_now = bind_now or bool(flags & DF_BIND_NOW) or bool(flags_1 & DF_1_NOW)
    if etype == "ET_DYN" and (soname or (not interp and not flags_1 & DF_1_PIE)):
        kind = "shared-object"
    elif interp or "PT_DYNAMIC" in segments:
        kind = "executable"
    else:
        kind = "static-executable"
    pie = etype == "ET_DYN"
    return ElfFacts(kind=kind, pie=pie, relro="PT_GNU_RELRO" in segments, bind_now=bind_now)


def missing(facts: ElfFacts) -> tuple[str, ...]:
    """The checks an ELF file fails (pure). A shared object is not asked to be a PIE."""
    out = []
    if facts.kind != "shared-object" and not facts.pie:
        out.append("pie")
    if not facts.relro:
        out.append("relro")
    if not facts.bind_now:
        out.append("bind-now")
    return tuple(out)


def rpm_elf_files(path: Path) -> Iterable[tuple[str, bytes]]:
    """(installed path, content) of every regular file in an RPM's payload that starts like an ELF file."""
    import rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        fd = rpm.fd.open(str(path))
        hdr = ts.hdrFromFdno(fd)
        payload = rpm.fd(fd, "r", flags=hdr[rpm.RPMTAG_PAYLOADCOMPRESSOR] or "gzip")
        files = rpm.files(hdr)
        archive = files.archive(payload)
        for entry in archive:
            if not archive.hascontent() or entry.size < 4:
                continue
            data = archive.read()
            if data.startswith(ELF_MAGIC):
                yield entry.name, data
    except rpm.error as exc:
        raise ForkliftError(f"{path}: not a readable RPM ({exc})") from None


def check_rpms(rpms: Iterable[Path], exemptions: Iterable[Exemption] = ()) -> tuple[list[Finding], int]:
    """Every finding in these RPMs, and the number of ELF files checked."""
    exempt: dict[str, set[str]] = {}
    for e in exemptions:
        exempt.setdefault(e.path, set()).update(e.checks)
    findings: list[Finding] = []
    count = 0
    for rpm_path in rpms:
        for name, data in rpm_elf_files(rpm_path):
            if name.startswith("/usr/lib/debug/"):
                continue  # -debuginfo: separate debug objects, not code that runs
            try:
                facts = elf_facts(data)
            except ForkliftError as exc:
                raise ForkliftError(f"{rpm_path.name}: {name}: {exc.message}") from None
            if facts is None:
                continue
            count += 1
            fails = tuple(c for c in missing(facts) if c not in exempt.get(name, set()))
            if fails:
                findings.append(Finding(rpm_path.name, name, fails))
    return findings, count


def built_rpms(repo: Path, target: str) -> list[Path]:
    """The binary RPMs of a built repository (no SRPMs); an error naming the directory when there are none."""
    rpms = sorted(p for p in repo.glob("*.rpm") if not p.name.endswith(".src.rpm"))
    if not rpms:
        raise ForkliftError(f"{repo}: no RPMs to check", hint=f"build the target first (invoke build -t {target})")
    return rpms


def load_exemptions(specs_root: Path) -> list[Exemption]:
    """specs/hardening.toml: [[exempt]] path, checks, reason."""
    path = specs_root / EXEMPT_FILE
    if not path.exists():
        return []
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(path, None, f"not valid TOML: {exc}") from None
    out = []
    for i, raw in enumerate(doc.get("exempt", [])):
        key = f"exempt[{i}]"
        if not isinstance(raw, dict) or set(raw) - {"path", "checks", "reason"}:
            raise DataError(path, key, "expected a table with path, checks and reason")
        p, checks, reason = raw.get("path"), raw.get("checks"), raw.get("reason")
        if not isinstance(p, str) or not p.startswith("/"):
            raise DataError(path, f"{key}.path", "an absolute path of a shipped file is required")
        if not isinstance(checks, list) or not checks or any(c not in CHECKS for c in checks):
            raise DataError(path, f"{key}.checks", f"a non-empty list of {', '.join(CHECKS)}")
        if not isinstance(reason, str) or not reason.strip():
            raise DataError(path, f"{key}.reason", "say why the exception is justified")
        out.append(Exemption(p, tuple(checks), reason))
    return out
