"""Real rpmbuild builds of the test upstreams through the whole pipeline."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.builds.conftest import set_vars
from tooling import model, repo
from tooling.builds import pipeline, scratch
from tooling.builds.lock import BuildLock
from tooling.builds.report import EXIT_FAILED, EXIT_OK
from tooling.errors import ForkliftError
from tooling.run import run

pytestmark = pytest.mark.slow


def build(specs: Path, tmp: Path, *, targets: tuple[str, ...] = ("fedora-45",), packages: tuple[str, ...] = (),
          jobs: int = 1, force: bool = False, json_path: Path | None = None) -> tuple[pipeline.BuildReport, str]:
    buf = io.StringIO()
    report = pipeline.run_build(
        model.load(specs), list(targets), list(packages), builder="rpmbuild", jobs=jobs, force=force,
        json_path=json_path, build_dir=tmp / "build", offline=True, cache_dir=tmp / "cache", mirrors=[],
        console=Console(file=buf, width=200),
    )
    return report, buf.getvalue()


def statuses(report: pipeline.BuildReport) -> dict[str, str]:
    return {f"{r.target}/{r.package}": r.status for r in report.records}


def test_dependency_order_local_repo_and_cache(test_specs: Path, tmp_path: Path) -> None:
    report, out = build(test_specs, tmp_path, jobs=2, json_path=tmp_path / "report.json")
    assert statuses(report) == {"fedora-45/fkapp": "built", "fedora-45/fkdoc": "built", "fedora-45/libfk": "built"}, out
    assert report.exit_code == EXIT_OK
    b = tmp_path / "build"
    # fkapp was built against libfk-devel taken from this run's local repo
    root_log = (b / "results" / "fedora-45" / "fkapp" / "root.log").read_text()
    assert "libfk-devel: internal, libfk-devel-1.0-1.fc45" in root_log
    order = out.index("built: libfk"), out.index("building fkapp")
    assert order[0] < order[1], out
    reqs = run(["rpm", "-qp", "--requires", str(next((b / "results" / "fedora-45" / "fkapp").glob("fkapp-1.0*.rpm")))])
    assert "libfk.so.1()(64bit)" in reqs.stdout
    # the published repo holds all four binary RPMs and valid metadata
    names = sorted(p.name.rsplit("-", 2)[0] for p in repo.packages(b / "repos" / "fedora-45"))
    assert names == ["fkapp", "fkdoc", "libfk", "libfk-devel"]
    assert (b / "repos" / "fedora-45" / "repodata" / "repomd.xml").is_file()
    assert (b / "repos" / "fedora-45").is_symlink()
    # mock's result layout
    for log in ("build.log", "root.log", "state.log", "hw_info.log", "installed_pkgs.log"):
        assert (b / "results" / "fedora-45" / "libfk" / log).is_file(), log
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["builder"] == "rpmbuild" and data["exit_code"] == 0 and len(data["builds"]) == 3
    # rpmbuild ran with --noclean; the work directories of the built jobs are gone all the same
    # (removed in the background once each was published, and waited for before run_build returns)
    assert "--noclean" in (b / "results" / "fedora-45" / "libfk" / "build.log").read_text()
    # the trees were on tmpfs where this machine has room for them, else under the build directory
    where = scratch.choose(b, 1)
    log = (b / "results" / "fedora-45" / "libfk" / "build.log").read_text()
    assert f"_topdir {where.root / 'fedora-45' / 'libfk' / 'top'}" in log, (where, log[:400])
    assert not any((where.root / "fedora-45" / name).exists() for name in ("libfk", "fkapp", "fkdoc"))
    if where.tmpfs:  # nothing of the run is left on tmpfs, not even empty directories
        assert not where.root.parent.exists(), list(where.root.parent.rglob("*"))

    # no-op: everything cached, the repo is not republished
    link = os.readlink(b / "repos" / "fedora-45")
    again, _ = build(test_specs, tmp_path)
    assert set(statuses(again).values()) == {"cached"}
    assert os.readlink(b / "repos" / "fedora-45") == link

    # a spec-only change of the library rebuilds it and what depends on it, not fkdoc
    set_vars(test_specs, "fkapp", 'build_cmd = "gcc %{optflags} -DCHANGED -o fkapp main.c -lfk"\nextra_br = ""')
    third, _ = build(test_specs, tmp_path)
    assert statuses(third) == {"fedora-45/fkapp": "built", "fedora-45/fkdoc": "cached", "fedora-45/libfk": "cached"}


def test_compile_error_is_quoted_and_dependents_unaffected(test_specs: Path, tmp_path: Path) -> None:
    set_vars(test_specs, "fkapp", 'build_cmd = "gcc -o fkapp main.c -lfk -DX=\\"unterminated"\nextra_br = ""')
    (test_specs / "fkapp" / "fkapp-1.0.tar.gz").unlink()
    from tests.builds.conftest import FKAPP, make_tarball

    make_tarball(test_specs / "fkapp" / "fkapp-1.0.tar.gz", {**FKAPP, "fkapp-1.0/main.c": "int main(void) { return }\n"})
    report, _out = build(test_specs, tmp_path)
    assert statuses(report)["fedora-45/fkapp"] == "failed"
    rec = next(r for r in report.records if r.package == "fkapp")
    assert "rpmbuild failed (build.log)" in rec.message
    assert "Bad exit status from" in rec.message and "(%build)" in rec.message
    assert "error:" in rec.message
    assert report.exit_code == EXIT_FAILED
    assert not any(p.name.startswith("fkapp") for p in repo.packages(tmp_path / "build" / "repos" / "fedora-45"))
    assert statuses(report)["fedora-45/libfk"] == "built"


def test_missing_buildrequires_named(test_specs: Path, tmp_path: Path) -> None:
    set_vars(test_specs, "fkapp", 'build_cmd = "true"\nextra_br = "libdoesnotexist-devel"')
    report, _ = build(test_specs, tmp_path, packages=("libfk", "fkapp"))
    rec = next(r for r in report.records if r.package == "fkapp")
    assert rec.status == "failed"
    assert "missing BuildRequires 'libdoesnotexist-devel'" in rec.message
    assert "No matching package to install: 'libdoesnotexist-devel'" in rec.message


def test_two_targets_in_parallel(test_specs: Path, tmp_path: Path) -> None:
    report, _ = build(test_specs, tmp_path, targets=("fedora-45", "centos-stream-9"), packages=("fkdoc",), jobs=2)
    assert statuses(report) == {"fedora-45/fkdoc": "built", "centos-stream-9/fkdoc": "built"}
    el = repo.packages(tmp_path / "build" / "repos" / "centos-stream-9")
    assert [p.name for p in el] == ["fkdoc-1.0-1.el9.noarch.rpm"]


def test_internal_dependency_nobody_provides_stops_before_building(test_specs: Path, tmp_path: Path) -> None:
    with pytest.raises(ForkliftError, match=r"BuildRequires 'libfk-devel', an internal package, but no package"):
        build(test_specs, tmp_path, packages=("fkapp",))
    assert not (tmp_path / "build" / "results").exists()


def test_lock_names_the_holder(test_specs: Path, tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    with BuildLock(tmp_path / "build"), pytest.raises(ForkliftError, match=rf"is in use by pid {os.getpid()} on "):
        build(test_specs, tmp_path)


def test_interrupted_build_stops_children_and_publishes_nothing(test_specs: Path, tmp_path: Path) -> None:
    set_vars(test_specs, "fkdoc", 'build_cmd = "sleep 120"')
    script = (
        "import sys\nfrom pathlib import Path\nfrom tooling import model\nfrom tooling.builds import pipeline\n"
        "from invoke.exceptions import Exit\nfrom tooling.cli import user_errors\n"
        f"try:\n  r = user_errors(pipeline.run_build)(model.load(Path({str(test_specs)!r})), ['fedora-45'], ['fkdoc'],"
        " builder='rpmbuild', jobs=1, force=False, json_path=None,"
        f" build_dir=Path({str(tmp_path / 'build')!r}), offline=True, cache_dir=Path({str(tmp_path / 'c')!r}),"
        " mirrors=[])\nexcept Exit as e:\n  sys.exit(e.code)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = tmp_path / "build" / "results" / "fedora-45" / "fkdoc" / "state.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (state.exists() and "Start: build phase" in state.read_text()):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.terminate()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted: running builds were stopped" in out
    leftover = subprocess.run(["pgrep", "-f", "sleep 120"], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", "a build process survived"
    assert not (tmp_path / "build" / "repos" / "fedora-45").exists()
    assert not (tmp_path / "build" / "cache" / "fedora-45" / "fkdoc.json").exists()
    assert not (tmp_path / "build" / ".linkcache").exists()  # the run's link cache goes with it


def _started(out: str) -> list[str]:
    return [line.split(" ...")[0].removeprefix("building ") for line in out.splitlines() if line.startswith("building ")]


def test_longest_chain_starts_first_and_build_times_steer_the_next_run(test_specs: Path, tmp_path: Path) -> None:
    targets = ("fedora-45", "centos-stream-9")
    report, out = build(test_specs, tmp_path, targets=targets, jobs=1)
    assert set(statuses(report).values()) == {"built"}, out
    started = _started(out)
    # libfk -> fkapp is the longest chain: both libfk builds start before anything else
    # (name order would have started centos-stream-9's fkdoc first)
    assert started[:2] == ["libfk for centos-stream-9", "libfk for fedora-45"], started
    recorded = json.loads((tmp_path / "build" / "cache" / "durations.json").read_text())
    assert set(recorded) == {f"{t}/{p}" for t in targets for p in ("libfk", "fkapp", "fkdoc")}
    assert all(s > 0 for s in recorded.values()), recorded

    # with fkdoc on record as the slowest by far, it goes first on the next run
    recorded.update({f"{t}/fkdoc": 500.0 for t in targets})
    (tmp_path / "build" / "cache" / "durations.json").write_text(json.dumps(recorded))
    _, out = build(test_specs, tmp_path, targets=targets, jobs=1, force=True)
    assert _started(out)[:2] == ["fkdoc for centos-stream-9", "fkdoc for fedora-45"], out
