"""Publish RPMs as a dnf repository, atomically.

``build/repos/<target>`` is a symbolic link to a complete, versioned
directory (``build/repos/.<target>.d/<n>``). Publishing builds the next
version beside it (hard links to the RPMs that stay, copies of the new ones,
createrepo_c metadata) and then swaps the link with one rename, so a reader
sees either the old repository or the new one, never half of one. Older
versions are removed after the swap, keeping the previous one for readers
that are still inside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tooling.errors import ForkliftError

KEEP_VERSIONS = 2


def _rpm_key(path: Path) -> tuple[str, str]:
    """(name, arch) of an RPM, from its header."""
    import rpm

    ts = rpm.TransactionSet()
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    try:
        with open(path, "rb") as fh:
            hdr = ts.hdrFromFdno(fh.fileno())
    except (rpm.error, OSError) as exc:
        raise ForkliftError(f"{path}: not a readable RPM ({exc})") from None
    arch = "src" if hdr[rpm.RPMTAG_SOURCEPACKAGE] else str(hdr[rpm.RPMTAG_ARCH])
    return str(hdr[rpm.RPMTAG_NAME]), arch


def _versions_dir(repo_dir: Path) -> Path:
    return repo_dir.parent / f".{repo_dir.name}.d"


def current(repo_dir: Path) -> Path | None:
    """The directory the repository link points at now, if any."""
    if repo_dir.is_symlink():
        return repo_dir.resolve()
    if repo_dir.is_dir():  # a plain directory from an older layout: still readable
        return repo_dir
    return None


def publish(repo_dir: Path, rpms: Iterable[Path]) -> None:
    """Add ``rpms`` to the repository at ``repo_dir`` (replacing older builds of the
    same name and arch) and regenerate its metadata; swap it in atomically."""
    new = [Path(p) for p in rpms]
    repo_dir = Path(os.path.abspath(repo_dir))
    versions = _versions_dir(repo_dir)
    versions.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="staging-", dir=versions))
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700; a repo is read by others (dnf, a VM, a web server)
    try:
        new_keys = {_rpm_key(p): p for p in new}
        old = current(repo_dir)
        if old is not None:
            for path in sorted(old.glob("*.rpm")):
                if _rpm_key(path) not in new_keys:
                    os.link(path, staging / path.name)
        for path in new:
            dest = staging / path.name
            if dest.exists():
                dest.unlink()
            shutil.copy2(path, dest)
        _createrepo(staging)
        number = 1 + max((int(p.name) for p in versions.iterdir() if p.name.isdigit()), default=0)
        final = versions / str(number)
        os.rename(staging, final)
        if repo_dir.exists() and not repo_dir.is_symlink():
            # migrate a plain directory: move it aside first (not atomic, once only)
            os.rename(repo_dir, versions / f"legacy-{number}")
        link_tmp = repo_dir.parent / f".{repo_dir.name}.link-{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            link_tmp.unlink()
        os.symlink(os.path.relpath(final, repo_dir.parent), link_tmp)
        os.replace(link_tmp, repo_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _prune(versions, keep=final)


def _createrepo(directory: Path) -> None:
    from tooling.run import run

    run(["createrepo_c", "--quiet", "--no-database", "--simple-md-filenames", str(directory)],
        hint="install createrepo-c (README.md set-up)")


def _prune(versions: Path, keep: Path) -> None:
    numbered = sorted((p for p in versions.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    for path in numbered[:-KEEP_VERSIONS]:
        if path != keep:
            shutil.rmtree(path, ignore_errors=True)
    for path in versions.iterdir():
        if path.name.startswith("legacy-"):
            shutil.rmtree(path, ignore_errors=True)


def packages(repo_dir: Path) -> list[Path]:
    """The RPMs the repository holds now."""
    cur = current(repo_dir)
    return sorted(cur.glob("*.rpm")) if cur else []
