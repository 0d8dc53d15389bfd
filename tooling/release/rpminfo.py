"""What an RPM's header says, read with the rpm Python bindings (no signature check here:
verification is gpg.verify_rpms, against one public key)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling.errors import ForkliftError

_KEY_ID = re.compile(r"Key ID ([0-9a-fA-F]{8,16})")


@dataclass(frozen=True)
class Change:
    time: int
    author: str  # "Name <mail> - EVR"
    text: str

    @property
    def evr(self) -> str:
        return self.author.rsplit(" - ", 1)[1].strip() if " - " in self.author else ""


@dataclass(frozen=True)
class RpmFile:
    path: str
    digest: str  # hex, in the header's file digest algorithm
    size: int
    mode: int
    mtime: int
    linkto: str
    license: bool  # %license
    doc: bool

    @property
    def is_regular(self) -> bool:
        return (self.mode & 0o170000) == 0o100000


@dataclass(frozen=True)
class RpmInfo:
    path: Path
    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    source_rpm: str
    license: str
    summary: str
    url: str
    buildtime: int
    payload_digest: str
    file_digest_algo: int
    files: tuple[RpmFile, ...]
    provides: tuple[tuple[str, str], ...]  # (name, version)
    changelog: tuple[Change, ...]
    signed_by: str  # the key id of the header signature, lower-case, "" when unsigned

    @property
    def evr(self) -> str:
        return (f"{self.epoch}:" if self.epoch is not None else "") + f"{self.version}-{self.release}"

    @property
    def nvr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.evr}.{self.arch}"

    @property
    def is_source(self) -> bool:
        return not self.source_rpm

    def bundled(self) -> list[tuple[str, str, str]]:
        """(ecosystem, name, version) of every ``bundled(...)`` Provides: golang(x), crate(x), or plain."""
        out = []
        for name, version in self.provides:
            m = re.fullmatch(r"bundled\((.+)\)", name)
            if not m:
                continue
            inner = m.group(1)
            eco = re.fullmatch(r"(golang|crate|npm|python3dist)\((.+)\)", inner)
            if eco:
                out.append((eco.group(1), eco.group(2), version))
            else:
                out.append(("", inner, version))
        return out


def _s(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def read_header(path: Path) -> Any:
    import rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        with open(path, "rb") as fh:
            return ts.hdrFromFdno(fh.fileno())
    except (rpm.error, OSError) as exc:
        raise ForkliftError(f"{path}: not a readable RPM ({exc})") from None


def info(path: Path) -> RpmInfo:
    import rpm

    hdr = read_header(path)
    files = []
    for f in rpm.files(hdr):
        files.append(RpmFile(f.name, _s(f.digest), int(f.size), int(f.mode), int(f.mtime), _s(f.linkto),
                             bool(f.fflags & rpm.RPMFILE_LICENSE), bool(f.fflags & rpm.RPMFILE_DOC)))
    provides = tuple(zip([_s(n) for n in hdr[rpm.RPMTAG_PROVIDENAME]],
                         [_s(v) for v in hdr[rpm.RPMTAG_PROVIDEVERSION]], strict=True))
    changes = tuple(Change(int(t), _s(n), _s(x)) for t, n, x in zip(
        hdr[rpm.RPMTAG_CHANGELOGTIME], hdr[rpm.RPMTAG_CHANGELOGNAME], hdr[rpm.RPMTAG_CHANGELOGTEXT], strict=True))
    signed = ""
    for tag in ("RSAHEADER", "DSAHEADER", "SIGPGP", "SIGGPG"):
        m = _KEY_ID.search(hdr.format(f"%{{{tag}:pgpsig}}"))
        if m:
            signed = m.group(1).lower()
            break
    epoch = hdr[rpm.RPMTAG_EPOCH]
    return RpmInfo(
        path=path, name=_s(hdr[rpm.RPMTAG_NAME]), epoch=int(epoch) if epoch is not None else None,
        version=_s(hdr[rpm.RPMTAG_VERSION]), release=_s(hdr[rpm.RPMTAG_RELEASE]),
        arch="src" if hdr[rpm.RPMTAG_SOURCEPACKAGE] else _s(hdr[rpm.RPMTAG_ARCH]),
        source_rpm=_s(hdr[rpm.RPMTAG_SOURCERPM]), license=_s(hdr[rpm.RPMTAG_LICENSE]),
        summary=_s(hdr[rpm.RPMTAG_SUMMARY]), url=_s(hdr[rpm.RPMTAG_URL]),
        buildtime=int(hdr[rpm.RPMTAG_BUILDTIME] or 0), payload_digest=_s(hdr[rpm.RPMTAG_PAYLOADDIGEST][0]
                                                                          if hdr[rpm.RPMTAG_PAYLOADDIGEST] else ""),
        file_digest_algo=int(hdr[rpm.RPMTAG_FILEDIGESTALGO] or 1), files=tuple(files), provides=provides,
        changelog=changes, signed_by=signed)


def payload_files(path: Path) -> dict[str, bytes]:
    """The contents of every regular file of the payload (for SHA1/SHA256 of each file in the SBOM)."""
    import rpm

    hdr = read_header(path)
    out: dict[str, bytes] = {}
    with open(path, "rb") as fh:
        ts = rpm.TransactionSet()
        ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
        ts.hdrFromFdno(fh.fileno())  # leaves the file positioned at the payload
        fd = rpm.fd(fh.fileno(), "r", _s(hdr[rpm.RPMTAG_PAYLOADCOMPRESSOR]) or "gzip")
        archive = rpm.files(hdr).archive(fd)
        for f in archive:
            if (f.mode & 0o170000) == 0o100000 and archive.hascontent():
                out[f.name] = archive.read()
    return out


def sha256(path: Path) -> str:
    from tooling.builds.cache import file_sha256

    return file_sha256(path)


def compare_evr(a: RpmInfo, b: RpmInfo) -> int:
    import rpm

    def t(x: RpmInfo) -> tuple[str, str, str]:
        return (str(x.epoch or 0), x.version, x.release)

    return int(rpm.labelCompare(t(a), t(b)))
