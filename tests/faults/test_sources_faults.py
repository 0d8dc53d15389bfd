"""Source faults through `invoke sources` / `invoke srpm`: a corrupted cache, mirrors with wrong bytes,
servers that hang or trickle, credentials in mirror URLs, bad cache directories, a full disk."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import (
    SECRET,
    TARBALL,
    TOKEN,
    CliResult,
    Loopback,
    SilentServer,
    assert_fault,
    mounted_tmpfs,
    sha512,
    snapshot,
    tiny_tree,
)

Cli = Callable[..., CliResult]
FILE = "tiny-1.0.tar.gz"


def cached_path(cache: Path, data: bytes = TARBALL) -> Path:
    h = sha512(data)
    return cache / "sha512" / h[:2] / h / FILE


def fill_cache(cli: Cli, specs: Path, cache: Path, data: bytes = TARBALL) -> Path:
    res = cli("sources", "--cache-dir", str(cache), extra_env={"FORKLIFT_SPECS": str(specs)})
    assert res.code == 0, str(res)
    path = cached_path(cache, data)
    assert path.read_bytes() == data
    return path


def corrupt(path: Path) -> None:
    """Overwrite a few bytes in place, as a bad disk or a stray write would."""
    with open(path, "r+b") as fh:
        fh.seek(100)
        fh.write(b"XXXX")


# ---------------------------------------------------------------- 1. corrupted cache


@pytest.mark.parametrize("task", ["sources", "srpm"])
def test_corrupt_cache_file_is_quarantined_offline(cli: Cli, tmp_path: Path, server: Loopback, task: str) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    cache = tmp_path / "cache"
    path = fill_cache(cli, specs, cache)
    corrupt(path)
    args = [task, "--offline", "--cache-dir", str(cache)]
    if task == "srpm":
        args += ["--build-dir", str(tmp_path / "build"), "-t", "fedora-45"]
    res = cli(*args, extra_env={"FORKLIFT_SPECS": str(specs)})
    line = assert_fault(res, code=1, culprit=(str(path), "corrupt"))
    assert line.startswith("warning:") and "invoke sources" in line
    assert "ok SHA512 cached" not in res.stdout
    assert not path.exists(), "the corrupt file stayed in the cache"
    (kept,) = (cache / "rejected").iterdir()
    assert kept.read_bytes() != TARBALL
    assert "tiny-1.0.tar.gz is missing" in res.stderr
    assert not list((tmp_path / "build").rglob("*.src.rpm"))


def test_corrupt_cache_file_is_fetched_again_online(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    cache = tmp_path / "cache"
    path = fill_cache(cli, specs, cache)
    corrupt(path)
    res = cli("sources", "--cache-dir", str(cache), extra_env={"FORKLIFT_SPECS": str(specs)})
    assert_fault(res, code=0, culprit=(str(path), "corrupt"))
    assert "fetched" in res.stdout
    assert path.read_bytes() == TARBALL


# ---------------------------------------------------------------- 7. mirrors with wrong bytes


@pytest.mark.parametrize("order", ["bad-then-good", "dir-bad-then-url-good", "all-bad"])
def test_mirror_with_wrong_bytes_is_skipped(cli: Cli, tmp_path: Path, server: Loopback, order: str) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/missing/tiny-{{version}}.tar.gz")  # upstream: 404
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / FILE).write_bytes(TARBALL[:-5] + b"EVIL\n")
    mirrors = {
        "bad-then-good": [f"url:{server.base}/tampered", f"url:{server.base}/files"],
        "dir-bad-then-url-good": [f"dir:{bad_dir}", f"url:{server.base}/files"],
        "all-bad": [f"dir:{bad_dir}", f"url:{server.base}/tampered"],
    }[order]
    cache = tmp_path / "cache"
    args = ["sources", "--cache-dir", str(cache)]
    for m in mirrors:
        args += ["--mirror", m]
    res = cli(*args, extra_env={"FORKLIFT_SPECS": str(specs)})
    rejected = sorted((cache / "rejected").iterdir())
    if order == "all-bad":
        line = assert_fault(res, code=1, culprit=(FILE, "no mirror has the right bytes"))
        assert "3 served other bytes" in line  # the dir mirror, and the url mirror's two layouts
        assert len(rejected) == 2 and not cached_path(cache).exists()  # two distinct wrong contents, kept
    else:
        assert_fault(res, code=0, culprit=(FILE, "mismatch", "trying the next mirror"))
        assert cached_path(cache).read_bytes() == TARBALL
        assert len(rejected) == 1 and rejected[0].read_bytes() != TARBALL


# ---------------------------------------------------------------- 2. credentials


@pytest.mark.parametrize("how", ["userinfo", "token"])
@pytest.mark.parametrize("task", ["sources", "srpm"])
def test_mirror_credentials_never_printed(cli: Cli, tmp_path: Path, server: Loopback, how: str, task: str) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/missing/tiny-{{version}}.tar.gz")
    # user:password, or a token as the user name (how GitHub and GitLab tokens go into URLs)
    cred = f"user:{SECRET}" if how == "userinfo" else TOKEN
    mirror = f"url:{server.base.replace('http://', f'http://{cred}@')}/dead"
    args = [task, "--cache-dir", str(tmp_path / "cache"), "--mirror", mirror]
    if task == "srpm":
        args += ["--build-dir", str(tmp_path / "build"), "-t", "fedora-45"]
    res = cli(*args, extra_env={"FORKLIFT_SPECS": str(specs)})
    assert server.hits("/dead/") >= 1, "the mirror was never tried"
    assert_fault(res, code=1, culprit=("/dead", "HTTP 503"), secrets=(SECRET, TOKEN),
                 files=(tmp_path / "cache", tmp_path / "build"), error=False)
    assert "***" in res.stderr


def test_stalled_mirror_with_credentials_is_named_redacted(cli: Cli, tmp_path: Path) -> None:
    hang = SilentServer("hang")
    try:
        specs = tiny_tree(tmp_path, hang.url("/tiny-{version}.tar.gz", f"me:{SECRET}"))
        res = cli("sources", "--cache-dir", str(tmp_path / "cache"), extra_env={
            "FORKLIFT_SPECS": str(specs), "FORKLIFT_FETCH_STALL": "1", "FORKLIFT_FETCH_ATTEMPTS": "2"})
    finally:
        hang.close()
    assert_fault(res, code=1, culprit=(f"http://***@127.0.0.1:{hang.port}/tiny-1.0.tar.gz", "stalled"),
                 secrets=(SECRET,), files=(tmp_path / "cache",), error=False)


# ---------------------------------------------------------------- 3. hangs


def test_server_that_says_nothing_fails_within_the_stall_timeout(cli: Cli, tmp_path: Path) -> None:
    hang = SilentServer("hang")
    try:
        specs = tiny_tree(tmp_path, hang.url("/tiny-{version}.tar.gz"))
        res = cli("sources", "--cache-dir", str(tmp_path / "cache"), extra_env={
            "FORKLIFT_SPECS": str(specs), "FORKLIFT_FETCH_STALL": "1", "FORKLIFT_FETCH_ATTEMPTS": "2"})
    finally:
        hang.close()
    # stated deadline: 2 attempts x 1 s stall + backoff + start-up < 8 s
    assert res.seconds < 8, str(res)
    assert_fault(res, code=1, culprit=(hang.url("/tiny-1.0.tar.gz"), "stalled: no data for 1 s"), error=False)
    assert "after 2 attempts" in res.stderr


def test_trickling_server_fails_at_the_file_deadline(cli: Cli, tmp_path: Path) -> None:
    slow = SilentServer("trickle", every=2.0)
    try:
        specs = tiny_tree(tmp_path, slow.url("/tiny-{version}.tar.gz"))
        res = cli("sources", "--cache-dir", str(tmp_path / "cache"), extra_env={
            "FORKLIFT_SPECS": str(specs), "FORKLIFT_FETCH_STALL": "5", "FORKLIFT_FETCH_DEADLINE": "3"})
    finally:
        slow.close()
    # stated deadline: the 3 s file deadline + start-up < 8 s (the trickle alone would take 2.3 days)
    assert res.seconds < 8, str(res)
    assert_fault(res, code=1, culprit=(slow.url("/tiny-1.0.tar.gz"), "deadline passed (3 s for this file)"),
                 error=False)
    assert not list((tmp_path / "cache").glob("sha512/*/*/*"))


def test_slow_download_prints_progress_lines(cli: Cli, tmp_path: Path) -> None:
    body = TARBALL[:4000]
    slow = SilentServer("trickle", every=0.05, body=body, chunk=100)  # about 2 s in all
    try:
        specs = tiny_tree(tmp_path, slow.url("/tiny-{version}.tar.gz"))
        (specs / "fksrc" / "sources").write_text(f"SHA512 (tiny-1.0.tar.gz) = {sha512(body)}\n")
        res = cli("sources", "--cache-dir", str(tmp_path / "cache"), extra_env={
            "FORKLIFT_SPECS": str(specs), "FORKLIFT_FETCH_PROGRESS": "0.4"})
    finally:
        slow.close()
    assert res.code == 0, str(res)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("downloading ")]
    assert len(lines) >= 2, str(res)
    assert "of 3.9 KiB" in lines[0] and "/s" in lines[0] and "ETA" in lines[0], lines[0]


@pytest.mark.parametrize("var,value", [("FORKLIFT_FETCH_STALL", "abc"), ("FORKLIFT_FETCH_DEADLINE", "-1"),
                                       ("FORKLIFT_FETCH_ATTEMPTS", "0")])
def test_bad_fetch_settings_are_named(cli: Cli, tmp_path: Path, server: Loopback, var: str, value: str) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    res = cli("sources", "--cache-dir", str(tmp_path / "cache"), extra_env={"FORKLIFT_SPECS": str(specs), var: value})
    assert_fault(res, code=1, culprit=f"${var}={value!r}")
    assert not server.log


# ---------------------------------------------------------------- 4. the cache directory itself


def test_cache_dir_that_is_a_file(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    blocker = tmp_path / "cachefile"
    blocker.write_text("not a directory\n")
    res = cli("sources", "--cache-dir", str(blocker), extra_env={"FORKLIFT_SPECS": str(specs)})
    assert_fault(res, code=1, culprit=(f"source cache {blocker}", "not a directory"))
    assert blocker.read_text() == "not a directory\n"


def test_read_only_cache_dir(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        res = cli("sources", "--cache-dir", str(ro), extra_env={"FORKLIFT_SPECS": str(specs)})
        assert_fault(res, code=1, culprit=(f"source cache {ro}", "Read-only file system"))
        assert snapshot(ro) == {}


def test_full_disk_while_downloading(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    with mounted_tmpfs(tmp_path / "small", "size=48k") as small:  # TARBALL is ~100 KiB
        res = cli("sources", "--cache-dir", str(small), extra_env={"FORKLIFT_SPECS": str(specs)})
        line = assert_fault(res, code=1, culprit=("No space left on device", str(small)))
        assert server.base in line
        # the partial download was dropped: the space is free again, nothing unverified stays
        assert not [p for p in small.rglob("*") if p.is_file() and p.stat().st_size > 0]


def test_dir_mirror_on_read_only_fs_still_feeds_a_writable_cache(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    """Not a fault: a read-only mirror directory is fine (the contrast to the read-only cache)."""
    specs = tiny_tree(tmp_path, f"{server.base}/missing/tiny-{{version}}.tar.gz")
    src = tmp_path / "m"
    src.mkdir()
    (src / FILE).write_bytes(TARBALL)
    res = cli("sources", "--offline", "--cache-dir", str(tmp_path / "cache"), "--mirror", f"dir:{src}",
              extra_env={"FORKLIFT_SPECS": str(specs)})
    assert res.code == 0, str(res)
    assert cached_path(tmp_path / "cache").read_bytes() == TARBALL
    t0 = time.monotonic()
    again = cli("sources", "--offline", "--cache-dir", str(tmp_path / "cache"), extra_env={"FORKLIFT_SPECS": str(specs)})
    assert again.code == 0 and "ok SHA512 cached" in again.stdout, str(again)
    assert time.monotonic() - t0 < 10


def test_slow_download_on_a_terminal_shows_a_progress_bar(tmp_path: Path, env: dict[str, str]) -> None:
    """stdout is a terminal (a pty): a rich bar with size, rate and time left instead of lines."""
    import os
    import pty
    import select
    import subprocess

    from tests.faults.conftest import INVOKE
    from tooling import REPO_ROOT

    body = TARBALL[:3000]
    slow = SilentServer("trickle", every=0.04, body=body, chunk=60)  # about 2 s in all
    master, slave = pty.openpty()
    try:
        specs = tiny_tree(tmp_path, slow.url("/tiny-{version}.tar.gz"))
        (specs / "fksrc" / "sources").write_text(f"SHA512 (tiny-1.0.tar.gz) = {sha512(body)}\n")
        proc = subprocess.Popen([str(INVOKE), "sources", "--cache-dir", str(tmp_path / "cache")], cwd=REPO_ROOT,
                                env={**env, "FORKLIFT_SPECS": str(specs), "FORKLIFT_FETCH_PROGRESS": "0.3",
                                     "TERM": "xterm-256color"},
                                stdout=slave, stderr=slave, stdin=subprocess.DEVNULL)
        os.close(slave)
        chunks: list[bytes] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        slow.close()
        os.close(master)
    out = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 0, out
    bars = [seg for seg in out.split("\r") if seg.lstrip("\x1b[2K").startswith("tiny-1.0.tar.gz ")]
    assert len(bars) >= 2, out
    assert re.search(r"3\.0/3\.0 kB.*\d (bytes|kB)/s.*0:00:0\d", bars[-1]), bars[-1]  # size, rate, time left
    assert "downloading http" not in out  # the line form is for pipes and files only
