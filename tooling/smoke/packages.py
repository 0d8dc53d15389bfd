"""What this repo built for a target: the binary RPMs in build/repos/<target>/."""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import run

ENGINE = "moby-engine-dm"
STORAGE_SETUP = "moby-dm-storage-setup"
SELINUX = "moby-engine-dm-selinux"


@dataclass(frozen=True)
class Rpm:
    path: Path
    name: str
    version: str
    release: str
    arch: str


@dataclass(frozen=True)
class RepoContents:
    directory: Path
    rpms: tuple[Rpm, ...]

    def get(self, name: str) -> Rpm | None:
        found = [r for r in self.rpms if r.name == name]
        return found[-1] if found else None

    @property
    def names(self) -> list[str]:
        return sorted({r.name for r in self.rpms})


def read_repo(directory: Path) -> RepoContents:
    """Binary RPMs (no SRPMs, no debuginfo) of a repo directory, read from their headers."""
    import rpm  # the rpm bindings: system package python3-rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    out = []
    for path in sorted(directory.rglob("*.rpm")) if directory.is_dir() else []:
        if path.name.endswith(".src.rpm"):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            hdr = ts.hdrFromFdno(fd)
        except rpm.error as exc:
            raise ForkliftError(f"{path}: not a readable RPM ({exc})", hint="rebuild the repo: invoke build") from exc
        finally:
            os.close(fd)
        name = str(hdr[rpm.RPMTAG_NAME])
        if name.endswith(("-debuginfo", "-debugsource")):
            continue
        out.append(Rpm(path, name, str(hdr[rpm.RPMTAG_VERSION]), str(hdr[rpm.RPMTAG_RELEASE]),
                       str(hdr[rpm.RPMTAG_ARCH])))
    return RepoContents(directory, tuple(out))


def extract(pkg: Rpm, dest: Path, work: Path) -> None:
    """Unpack an RPM's payload under ``dest`` (rpm2archive, then tarfile): no scriptlets run."""
    work.mkdir(parents=True, exist_ok=True)
    link = work / pkg.path.name
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(pkg.path.resolve())
    run(["rpm2archive", link.name], cwd=work, hint="rpm2archive comes with rpm (apt-get install rpm)")
    tgz = work / (pkg.path.name + ".tgz")
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():  # python 3.11.2 has no extraction filters: check by hand
            parts = Path(member.name).parts
            if member.name.startswith("/") or ".." in parts or member.isdev():
                raise ForkliftError(f"{pkg.path}: unsafe path in payload: {member.name}")
        tar.extractall(dest)
    tgz.unlink()
    link.unlink()
