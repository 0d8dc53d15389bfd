"""Where host builds keep their trees (tooling/builds/scratch.py): tmpfs when there is room, and what
each setting does when there is not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tooling.builds import scratch
from tooling.errors import ForkliftError

GIB = 1 << 30


def mounts(path: Path, fstype: str) -> str:
    return f"/dev/vda / ext4 rw 0 0\ntmpfs {path} {fstype} rw,nosuid,nodev 0 0\n"


def meminfo(available: int) -> str:
    return f"MemTotal: 25165824 kB\nMemAvailable: {available // 1024} kB\n"


def test_tmpfs_with_room_holds_the_trees(tmp_path: Path) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    free = os.statvfs(shm).f_bavail * os.statvfs(shm).f_frsize
    if free < scratch.PER_JOB:
        pytest.skip(f"{tmp_path} has less than {scratch.PER_JOB >> 20} MiB free")
    got = scratch.choose(tmp_path / "build", 1, setting="auto", tmpfs=shm, mounts=mounts(shm, "tmpfs"),
                         meminfo=meminfo(8 * GIB))
    assert got.tmpfs and got.root.parent.parent == shm / f"forklift-{os.getuid()}"
    assert got.root.name == "work" and "tmpfs" in got.why
    # one tree per build directory: another checkout's build directory gets another root
    other = scratch.choose(tmp_path / "build2", 1, setting="auto", tmpfs=shm, mounts=mounts(shm, "tmpfs"),
                           meminfo=meminfo(8 * GIB))
    assert other.root != got.root
    forced = scratch.choose(tmp_path / "build", 1, setting="on", tmpfs=shm, mounts=mounts(shm, "tmpfs"),
                            meminfo=meminfo(8 * GIB))
    assert (forced.root, forced.tmpfs) == (got.root, True)


@pytest.mark.parametrize(("fstype", "available", "jobs", "why"), [
    ("ext4", 8 * GIB, 1, "is not a tmpfs"),
    ("tmpfs", 2 * GIB, 1, "MiB of memory available, 1 job(s) need 3072 MiB"),
    ("tmpfs", 5 * GIB, 2, "MiB of memory available, 2 job(s) need 6144 MiB"),
])
def test_without_room_the_trees_stay_in_the_build_directory(tmp_path: Path, fstype: str, available: int, jobs: int,
                                                             why: str) -> None:
    shm = tmp_path / "shm"
    shm.mkdir()
    if fstype == "tmpfs" and os.statvfs(shm).f_bavail * os.statvfs(shm).f_frsize < scratch.PER_JOB * jobs:
        pytest.skip(f"{tmp_path} has too little room to reach the memory check")
    kw = {"tmpfs": shm, "mounts": mounts(shm, fstype), "meminfo": meminfo(available)}
    got = scratch.choose(tmp_path / "build", jobs, setting="auto", **kw)  # type: ignore[arg-type]
    assert got == scratch.Scratch(tmp_path / "build" / "work", False, got.why)
    assert why in got.why
    with pytest.raises(ForkliftError, match=rf"FORKLIFT_BUILD_TMPFS=on: .*{why.split(',')[0][-12:]}"):
        scratch.choose(tmp_path / "build", jobs, setting="on", **kw)  # type: ignore[arg-type]


def test_off_and_a_bad_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(scratch.ENV, "off")
    got = scratch.choose(tmp_path / "build", 1)
    assert got.root == tmp_path / "build" / "work" and not got.tmpfs and "=off" in got.why
    monkeypatch.setenv(scratch.ENV, "ram")
    with pytest.raises(ForkliftError, match=r"FORKLIFT_BUILD_TMPFS='ram': not one of auto, on, off"):
        scratch.choose(tmp_path / "build", 1)


def test_claim_names_the_build_directory_and_tidy_keeps_only_failed_trees(tmp_path: Path) -> None:
    (tmp_path / "shm").mkdir()
    root = tmp_path / "shm" / f"forklift-{os.getuid()}" / "abc" / "work"
    chosen = scratch.Scratch(root, True, "test")
    scratch.claim(chosen, tmp_path / "build")
    assert scratch.owner(root.parent) == (tmp_path / "build").resolve()
    (root / "fedora-45" / "libfk").mkdir(parents=True)  # published: its tree was removed, the dirs stay
    (root / "fedora-45" / "fkapp" / "top").mkdir(parents=True)
    (root / "fedora-45" / "fkapp" / "top" / "build.log").write_text("failed\n")  # a failed build's tree
    scratch.tidy(chosen)
    assert not (root / "fedora-45" / "libfk").exists()
    assert (root / "fedora-45" / "fkapp" / "top" / "build.log").is_file()
    assert scratch.owner(root.parent) == (tmp_path / "build").resolve()  # still says whose it is
    (root / "fedora-45" / "fkapp" / "top" / "build.log").unlink()
    scratch.tidy(chosen)
    assert not root.parent.exists()  # nothing left, not even the owner file


@pytest.mark.parametrize("make", ["symlink", "group-writable", "other-owner"])
def test_a_top_directory_someone_else_could_steer_is_refused(tmp_path: Path, make: str) -> None:
    """/dev/shm is everyone's: a forklift-<uid> directory that is a link, writable by others, or not ours
    would let another user redirect the builds' writes."""
    shm = tmp_path / "shm"
    shm.mkdir()
    if os.statvfs(shm).f_bavail * os.statvfs(shm).f_frsize < scratch.PER_JOB:
        pytest.skip(f"{tmp_path} has less than {scratch.PER_JOB >> 20} MiB free")
    base = shm / f"forklift-{os.getuid()}"
    if make == "symlink":
        (tmp_path / "elsewhere").mkdir()
        base.symlink_to(tmp_path / "elsewhere")
    elif make == "group-writable":
        base.mkdir()
        base.chmod(0o775)
    else:
        if os.getuid() != 0:
            pytest.skip("needs root to give the directory to another user")
        base.mkdir(mode=0o700)
        os.chown(base, 65534, 65534)
    kw = {"tmpfs": shm, "mounts": mounts(shm, "tmpfs"), "meminfo": meminfo(8 * GIB)}
    got = scratch.choose(tmp_path / "build", 1, setting="auto", **kw)  # type: ignore[arg-type]
    assert not got.tmpfs and got.root == tmp_path / "build" / "work"
    assert "is not a directory of this user's that only it may write to" in got.why
    with pytest.raises(ForkliftError, match="only it may write to"):
        scratch.choose(tmp_path / "build", 1, setting="on", **kw)  # type: ignore[arg-type]


def test_claim_makes_the_top_directory_private(tmp_path: Path) -> None:
    root = tmp_path / "shm" / f"forklift-{os.getuid()}" / "abc" / "work"
    (tmp_path / "shm").mkdir()
    scratch.claim(scratch.Scratch(root, True, "test"), tmp_path / "build")
    assert (root.parent.parent.stat().st_mode & 0o777) == 0o700
