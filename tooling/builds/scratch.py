"""Where host builds keep their scratch trees: on tmpfs when the machine has room for them.

rpmbuild writes a build's whole tree (the unpacked sources, the objects and binaries, the
buildroot) and the pipeline removes it after publishing.
None of it outlives the build, yet on a disk with a slow metadata path it costs more than the
compile: unpacking the engine's 9,600 files took 4.7 s on this project's CI machines' ext4 and
0.3 s on tmpfs. mock has the same choice in its tmpfs plugin; this is the rpmbuild builder's.

``$FORKLIFT_BUILD_TMPFS`` decides:

- ``auto`` (the default): tmpfs when ``/dev/shm`` is a tmpfs with :data:`PER_JOB` bytes free
  per parallel job, and the machine has that much memory available; else the build directory;
- ``off``: always ``<build-dir>/work``;
- ``on``: tmpfs, or an error that says why not.

The scratch root is ``/dev/shm/forklift-<uid>/<sha256(build dir)[:12]>/work``: one per build
directory, so two checkouts never share a tree, and nothing in it depends on anything but the
build directory, as ``<build-dir>/work`` did. Which root a run used is in its ``scratch:`` line; a failed
build's tree stays there for a look until the job is built again (the pipeline empties a job's
tree before it starts) or the machine restarts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError

ENV = "FORKLIFT_BUILD_TMPFS"
CHOICES = ("auto", "on", "off")
TMPFS = Path("/dev/shm")
PER_JOB = 3 << 30  # room to spare: the engine's tree held 340 MiB during its %check


@dataclass(frozen=True)
class Scratch:
    root: Path  # the jobs' trees are <root>/<target>/<package>
    tmpfs: bool
    why: str  # one line for the report


def _is_tmpfs(path: Path, mounts: str) -> bool:
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == str(path) and fields[2] == "tmpfs":
            return True
    return False


def _mem_available(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def choose(build_dir: Path, jobs: int, *, setting: str | None = None, tmpfs: Path = TMPFS,
           mounts: str | None = None, meminfo: str | None = None) -> Scratch:
    """The scratch root for a run of ``jobs`` parallel host builds in ``build_dir`` (pure but for the
    look at /proc and the tmpfs, which tests pass in)."""
    setting = (setting if setting is not None else os.environ.get(ENV, "auto")).strip() or "auto"
    if setting not in CHOICES:
        raise ForkliftError(f"${ENV}={setting!r}: not one of {', '.join(CHOICES)}",
                            hint="auto (tmpfs when there is room), on or off; or unset it")
    disk = build_dir / "work"
    if setting == "off":
        return Scratch(disk, False, f"build trees in {disk} (${ENV}=off)")
    need = PER_JOB * jobs
    if mounts is None:
        mounts = _read("/proc/mounts")
    if meminfo is None:
        meminfo = _read("/proc/meminfo")
    why_not = ""
    if not _is_tmpfs(tmpfs, mounts):
        why_not = f"{tmpfs} is not a tmpfs"
    else:
        st = os.statvfs(tmpfs)
        free, available = st.f_bavail * st.f_frsize, _mem_available(meminfo)
        if free < need:
            why_not = f"{tmpfs} has {free >> 20} MiB free, {jobs} job(s) need {need >> 20} MiB"
        elif available < need:
            why_not = f"{available >> 20} MiB of memory available, {jobs} job(s) need {need >> 20} MiB"
    base = tmpfs / f"forklift-{os.getuid()}"
    if not why_not:
        why_not = _unsafe(base)
    if why_not:
        if setting == "on":
            raise ForkliftError(f"${ENV}=on: {why_not}", hint=f"free memory, lower --jobs, or set {ENV}=auto")
        return Scratch(disk, False, f"build trees in {disk} ({why_not})")
    digest = hashlib.sha256(str(build_dir.resolve()).encode()).hexdigest()[:12]
    root = base / digest / "work"
    return Scratch(root, True, f"build trees on tmpfs in {root} (${ENV}={setting})")


OWNER = "build-dir"  # beside a tmpfs root: the build directory whose trees it holds


def _unsafe(base: Path) -> str:
    """Why ``base`` (in a directory everyone may write to) is not safe to build in, or "" when it is:
    it must be our own real directory that nobody else can write to, else another user could have
    made it, or a link in it, to steer where our builds write."""
    try:
        st = os.lstat(base)
    except FileNotFoundError:
        return ""
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o022:
        return f"{base} is not a directory of this user's that only it may write to"
    return ""


def claim(chosen: Scratch, build_dir: Path) -> None:
    """Before a run's builds: make a tmpfs root (its top directory private) and say whose it is."""
    if not chosen.tmpfs:
        return
    base = chosen.root.parent.parent
    with contextlib.suppress(FileExistsError):
        base.mkdir(mode=0o700)
    if why := _unsafe(base):  # made by someone else between choose() and here
        raise ForkliftError(why, hint=f"remove it, or set {ENV}=off")
    chosen.root.mkdir(parents=True, exist_ok=True)
    (chosen.root.parent / OWNER).write_text(f"{build_dir.resolve()}\n", encoding="utf-8")


def owner(directory: Path) -> Path | None:
    """The build directory a ``/dev/shm/forklift-<uid>/<digest>`` directory belongs to, if it says."""
    try:
        return Path((directory / OWNER).read_text(encoding="utf-8").strip())
    except OSError:
        return None


def tidy(chosen: Scratch) -> None:
    """After a run: remove the empty directories of a tmpfs root (a failed build's tree stays)."""
    if not chosen.tmpfs or not chosen.root.is_dir():
        return
    dirs = sorted((p for p in chosen.root.rglob("*") if p.is_dir() and not p.is_symlink()),
                  key=lambda p: len(p.parts), reverse=True)
    for d in [*dirs, chosen.root]:
        with contextlib.suppress(OSError):  # not empty: a failed build's tree, kept for a look
            d.rmdir()
    if not chosen.root.exists():
        with contextlib.suppress(OSError):
            (chosen.root.parent / OWNER).unlink()
            chosen.root.parent.rmdir()


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""
