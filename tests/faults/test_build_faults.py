"""Build faults through `invoke build` (real rpmbuild on the small test packages): a corrupted source
cache, a tampered SRPM, a spec error in one package, unwritable outputs, a full disk, the lock,
Ctrl-C with --jobs 2, and a SIGKILLed Forklift whose children must die with it."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.builds.conftest import set_vars
from tests.faults.conftest import (
    INVOKE,
    TARBALL,
    CliResult,
    Loopback,
    assert_fault,
    lock_free,
    mounted_tmpfs,
    sha512,
    snapshot,
    tiny_tree,
)
from tests.faults.test_sources_faults import corrupt, fill_cache
from tooling import REPO_ROOT
from tooling.builds import scratch

pytestmark = pytest.mark.slow
Cli = Callable[..., CliResult]


def build_args(tmp: Path, *extra: str) -> list[str]:
    return ["build", "-t", "fedora-45", "--builder", "rpmbuild", "--offline", "--build-dir", str(tmp / "build"),
            "--cache-dir", str(tmp / "cache"), *extra]


def packaged_tarball(build: Path) -> bytes:
    """The upstream tarball inside the published fksrc RPM."""
    (rpm,) = (build / "repos" / "fedora-45").glob("fksrc-1.0-*.noarch.rpm")
    out = subprocess.run(f"rpm2archive -n < {rpm} | tar -xOf - ./usr/share/fksrc/tiny-1.0.tar.gz", shell=True,
                         capture_output=True, check=True)
    return out.stdout


def statuses(report: Path) -> dict[str, str]:
    return {b["package"]: b["status"] for b in json.loads(report.read_text())["builds"]}


# ---------------------------------------------------------------- 1. corrupted cache, tampered SRPM


def test_corrupt_cache_is_never_packaged(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    env = {"FORKLIFT_SPECS": str(specs)}
    path = fill_cache(cli, specs, tmp_path / "cache")
    corrupt(path)
    res = cli(*build_args(tmp_path, "--json", str(tmp_path / "r.json")), extra_env=env)
    assert_fault(res, code=3, culprit=(str(path), "corrupt"))
    assert statuses(tmp_path / "r.json") == {"fksrc": "missing-sources"}
    assert not (tmp_path / "build" / "repos" / "fedora-45").exists(), "something was published"
    # a good cache again: built (not "cached"), and the RPM carries the right bytes
    assert cli("sources", "--cache-dir", str(tmp_path / "cache"), extra_env=env).code == 0
    res = cli(*build_args(tmp_path, "--json", str(tmp_path / "r.json")), extra_env=env)
    assert res.code == 0, str(res)
    assert statuses(tmp_path / "r.json") == {"fksrc": "built"}
    assert packaged_tarball(tmp_path / "build") == TARBALL


def test_tampered_srpm_or_old_stamp_is_not_reused(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    env = {"FORKLIFT_SPECS": str(specs)}
    fill_cache(cli, specs, tmp_path / "cache")
    assert cli(*build_args(tmp_path), extra_env=env).code == 0
    srpms = tmp_path / "build" / "srpms" / "fedora-45"
    (srpm,) = srpms.glob("*.src.rpm")
    good = srpm.read_bytes()
    corrupt(srpm)
    res = cli(*build_args(tmp_path, "--json", str(tmp_path / "r.json")), extra_env=env)
    assert res.code == 0, str(res)
    assert srpm.read_bytes() == good, "the tampered SRPM was used"
    assert statuses(tmp_path / "r.json") == {"fksrc": "cached"}  # same verified inputs, same RPM: correct
    # a stamp from before verified inputs were recorded is not trusted: the SRPM is made again
    stamp = srpms / ".fksrc.inputs.json"
    data = json.loads(stamp.read_text())
    del data["verified"]
    stamp.write_text(json.dumps(data))
    ino = srpm.stat().st_ino
    assert cli(*build_args(tmp_path), extra_env=env).code == 0
    assert srpm.stat().st_ino != ino and srpm.read_bytes() == good
    assert packaged_tarball(tmp_path / "build") == TARBALL


# ---------------------------------------------------------------- 5. one spec error


@pytest.mark.parametrize("broken,expect", [
    ("fkdoc", {"libfk": "built", "fkapp": "built", "fkdoc": "failed"}),
    ("libfk", {"libfk": "failed", "fkapp": "skipped", "fkdoc": "built"}),
])
def test_spec_error_stays_in_its_package(cli: Cli, tmp_path: Path, test_specs: Path, broken: str,
                                         expect: dict[str, str]) -> None:
    if broken == "fkdoc":
        set_vars(test_specs, "fkdoc", 'build_cmd = "%{error:deliberate spec error}"')
    else:
        spec = test_specs / "libfk" / "libfk.spec.j2"
        spec.write_text(spec.read_text().replace("%build\n", "%build\n%{error:deliberate spec error}\n"))
    report = tmp_path / "r.json"
    res = cli(*build_args(tmp_path, "--jobs", "2", "--json", str(report)), extra_env={"FORKLIFT_SPECS": str(test_specs)})
    assert_fault(res, code=1, culprit=(broken, "deliberate spec error"), error=False)
    assert statuses(report) == expect
    for pkg, status in expect.items():
        assert any(pkg in ln and status in ln for ln in res.stdout.splitlines()), f"{pkg} {status} not in the table"
    published = {p.name.rsplit("-", 2)[0] for p in (tmp_path / "build" / "repos" / "fedora-45").glob("*.rpm")}
    assert {p for p, s in expect.items() if s == "built"} <= published
    assert broken not in published
    assert lock_free(tmp_path / "build")


# ---------------------------------------------------------------- 4. outputs that cannot be written


def _json_place(tmp: Path, kind: str) -> Path:
    if kind == "missing-dir":
        return tmp / "nowhere" / "r.json"
    if kind == "a-directory":
        (tmp / "adir").mkdir()
        return tmp / "adir"
    return tmp / "ro" / "r.json"


@pytest.mark.parametrize("kind,reason", [("missing-dir", "no such directory"), ("a-directory", "is a directory"),
                                         ("read-only", "Read-only file system")])
def test_unwritable_json_is_caught_before_building(cli: Cli, tmp_path: Path, test_specs: Path, kind: str,
                                                   reason: str) -> None:
    target = _json_place(tmp_path, kind)
    args = build_args(tmp_path, "-p", "fkdoc", "--json", str(target))
    env = {"FORKLIFT_SPECS": str(test_specs)}
    if kind == "read-only":
        with mounted_tmpfs(tmp_path / "ro", "ro,size=1m"):
            res = cli(*args, extra_env=env)
    else:
        res = cli(*args, extra_env=env)
    assert_fault(res, code=1, culprit=(f"--json {target}", reason))
    build = tmp_path / "build"
    assert not (build / "results").exists() and not (build / "repos").exists() and not (build / "srpms").exists()
    assert lock_free(build)


@pytest.mark.parametrize("kind", ["a-file", "under-a-file", "read-only"])
def test_unwritable_build_dir(cli: Cli, tmp_path: Path, test_specs: Path, kind: str) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x\n")
    env = {"FORKLIFT_SPECS": str(test_specs)}
    if kind == "read-only":
        with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
            res = cli("build", "--builder", "rpmbuild", "--offline", "--build-dir", str(ro), extra_env=env)
            where = ro
    else:
        where = blocker if kind == "a-file" else blocker / "build"
        res = cli("build", "--builder", "rpmbuild", "--offline", "--build-dir", str(where), extra_env=env)
    assert_fault(res, code=1, culprit=f"--build-dir {where}")
    assert blocker.read_text() == "x\n"


def test_full_build_dir_fails_the_package_not_the_run(cli: Cli, tmp_path: Path, server: Loopback) -> None:
    noise = random.Random(15).randbytes(200_000)  # incompressible: the SRPM is as big
    server.files["tiny-1.0.tar.gz"] = noise
    specs = tiny_tree(tmp_path, f"{server.base}/files/tiny-{{version}}.tar.gz")
    (specs / "fksrc" / "sources").write_text(f"SHA512 (tiny-1.0.tar.gz) = {sha512(noise)}\n")
    fill_cache(cli, specs, tmp_path / "cache", noise)
    with mounted_tmpfs(tmp_path / "build", "size=128k"):  # the SRPM does not fit
        res = cli(*build_args(tmp_path), extra_env={"FORKLIFT_SPECS": str(specs)})
        assert_fault(res, code=1, culprit=("fksrc", "No space left on device"), error=False)
        assert not list((tmp_path / "build").rglob("*.src.rpm"))
        assert lock_free(tmp_path / "build")


@pytest.mark.parametrize("kind", ["a-file", "read-only"])
def test_render_out_unwritable(cli: Cli, tmp_path: Path, test_specs: Path, kind: str) -> None:
    env = {"FORKLIFT_SPECS": str(test_specs)}
    if kind == "read-only":
        with mounted_tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
            res = cli("render", "-t", "fedora-45", "--out", str(ro / "specs"), extra_env=env)
            where = ro / "specs"
    else:
        where = tmp_path / "file"
        where.write_text("x\n")
        res = cli("render", "-t", "fedora-45", "--out", str(where), extra_env=env)
    assert_fault(res, code=1, culprit=f"--out {where}")


# ---------------------------------------------------------------- the lock


def test_lock_held_names_the_holder_and_stays(cli: Cli, tmp_path: Path, test_specs: Path) -> None:
    build = tmp_path / "build"
    build.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\nfrom pathlib import Path\nfrom tooling.builds.lock import BuildLock\n"
        f"with BuildLock(Path({str(build)!r})):\n    print('held', flush=True)\n    time.sleep(60)\n")],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = snapshot(build)
        res = cli(*build_args(tmp_path), extra_env={"FORKLIFT_SPECS": str(test_specs)})
        assert_fault(res, code=1, culprit=(str(build), f"in use by pid {holder.pid}"))
        assert snapshot(build) == before
    finally:
        holder.kill()
        holder.wait()
    assert lock_free(build)


# ---------------------------------------------------------------- 8. Ctrl-C and SIGKILL


def _start(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(INVOKE), *args], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _pgrep(marker: str) -> list[str]:
    res = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return [ln for ln in res.stdout.splitlines() if "pgrep" not in ln and "python" not in ln]


def _marker(tmp_path: Path) -> str:
    # a sleep length unique to this test: pgrep finds this build's processes only
    return f"sleep 1{int(hashlib.sha256(str(tmp_path).encode()).hexdigest()[:6], 16) % 100000}.5"


def test_ctrl_c_with_two_jobs_reports_what_was_published(tmp_path: Path, test_specs: Path,
                                                         env: dict[str, str]) -> None:
    marker = _marker(tmp_path)
    set_vars(test_specs, "fkdoc", f'build_cmd = "{marker}"')
    report = tmp_path / "r.json"
    proc = _start(tmp_path, {**env, "FORKLIFT_SPECS": str(test_specs)}, *build_args(tmp_path, "--jobs", "2", "--json",
                                                                                     str(report)))
    cache = tmp_path / "build" / "cache" / "fedora-45"
    try:
        _wait_for(lambda: (cache / "fkapp.json").exists() and bool(_pgrep(marker)), 120, "fkapp built, fkdoc running")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    line = next(ln for ln in out.splitlines() if ln.startswith("error: interrupted"))
    assert "(fedora-45/fkdoc)" in line
    assert "published before the interrupt: fedora-45/fkapp, fedora-45/libfk" in line, line
    assert statuses(report) == {"libfk": "built", "fkapp": "built", "fkdoc": "interrupted"}
    assert not _pgrep(marker), "a build process survived"
    assert not (cache / "fkdoc.json").exists()
    assert lock_free(tmp_path / "build")


def test_sigkilled_forklift_leaves_no_build_running(tmp_path: Path, test_specs: Path, env: dict[str, str]) -> None:
    marker = _marker(tmp_path)
    set_vars(test_specs, "fkdoc", f'build_cmd = "{marker}"')
    proc = _start(tmp_path, {**env, "FORKLIFT_SPECS": str(test_specs)}, *build_args(tmp_path, "-p", "fkdoc"))
    try:
        _wait_for(lambda: bool(_pgrep(marker)), 120, "the build to run")
        builds = _pgrep(str(scratch.choose(tmp_path / "build", 1).root))  # rpmbuild runs in the job's tree
        proc.kill()
        proc.wait(timeout=10)
        _wait_for(lambda: not _pgrep(marker) and not _pgrep(f"rpmbuild.*{tmp_path}"), 10,
                  f"the orphaned build to die (was: {builds})")
    finally:
        proc.kill()
        for line in _pgrep(marker):
            os.kill(int(line.split()[0]), signal.SIGKILL)
    assert lock_free(tmp_path / "build")
    assert not (tmp_path / "build" / "cache" / "fedora-45" / "fkdoc.json").exists()


def test_orphan_check_is_real(tmp_path: Path) -> None:
    """The control for the test above: without Forklift's care a setsid child does survive its parent."""
    marker = _marker(tmp_path / "control")
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, time\n"
        f"subprocess.Popen(['sh', '-c', '{marker}'], start_new_session=True)\ntime.sleep(60)\n")])
    try:
        _wait_for(lambda: bool(_pgrep(marker)), 20, "the child")
        parent.kill()
        parent.wait()
        time.sleep(1)
        assert _pgrep(marker), "the control child died: the SIGKILL test would prove nothing"
    finally:
        parent.kill()
        for line in _pgrep(marker):
            os.kill(int(line.split()[0]), signal.SIGKILL)

