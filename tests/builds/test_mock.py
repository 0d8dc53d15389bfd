"""The mock builder at mock's real interface: its command line, config files,
exit codes and result-dir layout, against a test double; and against real mock
where it is installed."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from tests.builds.conftest import set_vars
from tooling import model, repo
from tooling.builds import pipeline
from tooling.builds.builders.mock import mock_escape, render_config
from tooling.errors import ForkliftError

DOUBLE = Path(__file__).resolve().parent / "mock_double"


@pytest.fixture
def mock_double(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PATH", f"{DOUBLE}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "mock-calls.jsonl"
    monkeypatch.setenv("MOCK_DOUBLE_LOG", str(log))
    return log


def build(specs: Path, tmp: Path, packages: tuple[str, ...] = (), jobs: int = 1, *, builder: str = "auto",
          mock_config_dir: Path | None = None) -> pipeline.BuildReport:
    return pipeline.run_build(model.load(specs), ["fedora-45"], list(packages), builder=builder, jobs=jobs,
                              force=False, json_path=None, build_dir=tmp / "build", offline=True,
                              cache_dir=tmp / "cache", mirrors=[], console=Console(file=io.StringIO(), width=200),
                              mock_config_dir=mock_config_dir)


def test_config_includes_core_chroot_macros_and_local_repo(tmp_path: Path) -> None:
    t = model.load().targets["centos-stream-9"]
    cfg = render_config(t, tmp_path / "repos" / "centos-stream-9")
    assert cfg.splitlines()[1] == "include('centos-stream+epel-9-x86_64.cfg')"
    assert "config_opts['macros']['%rhel'] = '9'" in cfg
    assert "config_opts['macros']['%dist'] = '.el9'" in cfg
    assert f"baseurl=file://{tmp_path}/repos/centos-stream-9" in cfg


def test_mock_escape_neutralises_jinja() -> None:
    assert mock_escape("a{{b}}") == repr("a{{ '{{' }}b}}")
    assert "{%" not in mock_escape("{% x %}").replace("'{%'", "")


def test_auto_picks_mock_and_builds_in_order(test_specs: Path, tmp_path: Path, mock_double: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCK_DOUBLE_SCENARIO", "success")
    report = build(test_specs, tmp_path, jobs=2)
    assert report.builder == "mock" and "mock found at" in report.builder_reason
    assert {r.package: r.status for r in report.records} == {"libfk": "built", "fkapp": "built", "fkdoc": "built"}
    calls = [json.loads(line) for line in mock_double.read_text().splitlines()]
    srpms = [Path(c["argv"][c["argv"].index("--rebuild") + 1]).name for c in calls]
    assert srpms.index("libfk-1.0-1.fc45.src.rpm") < srpms.index("fkapp-1.0-1.fc45.src.rpm")
    for call in calls:
        argv = call["argv"]
        assert argv[0] == "-r" and argv[1].endswith("/build/mock/fedora-45.cfg")
        assert "--resultdir" in argv and "--uniqueext" in argv  # jobs=2: builds of one chroot side by side
        assert "include('fedora-45-x86_64.cfg')" in call["config"]
    names = sorted(p.name.rsplit("-", 2)[0] for p in repo.packages(tmp_path / "build" / "repos" / "fedora-45"))
    assert names == ["fkapp", "fkdoc", "libfk", "libfk-devel"]


@pytest.mark.parametrize(("scenario", "expected"), [
    ("build-fail", ["mock exited with 1: rpmbuild failed (build.log)", "Bad exit status from", "(%build)"]),
    ("dynbr-fail", ["mock exited with 10: rpmbuild failed (build.log)", "(%generate_buildrequires)"]),
    ("generic-fail", ["mock exited with 1: mock failed (generic error) (root.log)", "Command failed"]),
    ("missing-br", ["mock exited with 30", "(root.log)", "No matching package to install: 'libdoesnotexist-devel'"]),
    ("bad-config", ["mock exited with 3", "a bug in Forklift"]),
])
def test_failures_quote_the_right_log(test_specs: Path, tmp_path: Path, mock_double: Path,
                                      monkeypatch: pytest.MonkeyPatch, scenario: str, expected: list[str]) -> None:
    monkeypatch.setenv("MOCK_DOUBLE_SCENARIO", scenario)
    report = build(test_specs, tmp_path, packages=("fkdoc",))
    (rec,) = report.records
    assert rec.status == "failed" and report.exit_code == 1
    for text in expected:
        assert text in rec.message, rec.message


def test_locked_buildroot_is_retried(test_specs: Path, tmp_path: Path, mock_double: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCK_DOUBLE_SCENARIO", "locked-once")
    report = build(test_specs, tmp_path, packages=("fkdoc",))
    assert report.records[0].status == "built"
    assert len(mock_double.read_text().splitlines()) == 2


def test_mock_config_dir_is_passed_and_checked(test_specs: Path, tmp_path: Path, mock_double: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCK_DOUBLE_SCENARIO", "success")
    etc = tmp_path / "etc-mock"
    etc.mkdir()
    with pytest.raises(ForkliftError, match=r"has no site-defaults\.cfg"):
        build(test_specs, tmp_path, packages=("fkdoc",), builder="mock", mock_config_dir=etc)
    (etc / "site-defaults.cfg").write_text("")
    # the generated config include()s fedora-45-x86_64.cfg: mock fails (exit 3) when the dir lacks it
    report = build(test_specs, tmp_path, packages=("fkdoc",), mock_config_dir=etc)
    assert report.records[0].status == "failed" and "mock exited with 3" in report.records[0].message
    assert "chroot configs from" in report.builder_reason
    (etc / "fedora-45-x86_64.cfg").write_text("config_opts['root'] = 'fedora-45-x86_64'\n")
    report = build(test_specs, tmp_path, packages=("fkdoc",), mock_config_dir=etc)
    assert report.records[0].status == "built", report.records[0].message
    argv = json.loads(mock_double.read_text().splitlines()[-1])["argv"]
    assert argv[:2] == ["--configdir", str(etc)]


def test_result_layout_kept(test_specs: Path, tmp_path: Path, mock_double: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOCK_DOUBLE_SCENARIO", "success")
    build(test_specs, tmp_path, packages=("fkdoc",))
    res = tmp_path / "build" / "results" / "fedora-45" / "fkdoc"
    for log in ("build.log", "root.log", "state.log", "hw_info.log", "installed_pkgs.log"):
        assert (res / log).is_file(), log
    assert list(res.glob("fkdoc-1.0-1.fc45.noarch.rpm"))


def _real_mock() -> Path | None:
    """The mock config dir to use with real mock (None: mock's own /etc/mock); skips without mock."""
    if shutil.which("mock") is None:
        pytest.skip("real mock is not on PATH: on Fedora `dnf install mock`; on this Debian machine run "
                    "tests/builds/realmock/setup.sh and follow what it prints (docs/build.md); the double above "
                    "covers mock's interface meanwhile")
    configdir = os.environ.get("FORKLIFT_MOCK_CONFIG_DIR")
    return Path(configdir) if configdir else None


def real_build(specs: Path, tmp: Path, packages: tuple[str, ...] = (), jobs: int = 1) -> pipeline.BuildReport:
    return build(specs, tmp, packages, jobs, builder="mock", mock_config_dir=_real_mock())


@pytest.mark.slow
def test_real_mock_builds_in_order_from_the_local_repo(test_specs: Path, tmp_path: Path) -> None:
    report = real_build(test_specs, tmp_path, jobs=2)
    assert {r.package: r.status for r in report.records} == {"libfk": "built", "fkapp": "built", "fkdoc": "built"}, \
        [r.message for r in report.records]
    names = {p.name.rsplit("-", 2)[0] for p in repo.packages(tmp_path / "build" / "repos" / "fedora-45")}
    # the distro's macros add -debuginfo/-debugsource subpackages, as in Fedora
    assert {n for n in names if not n.endswith(("-debuginfo", "-debugsource"))} == {
        "fkapp", "fkdoc", "libfk", "libfk-devel"}
    res = tmp_path / "build" / "results" / "fedora-45" / "fkapp"
    for log in ("build.log", "root.log", "state.log", "hw_info.log", "installed_pkgs.log"):
        assert (res / log).is_file(), log
    # mock installed libfk-devel from this run's repo into the chroot
    assert "libfk-devel-1.0-1.fc45" in (res / "installed_pkgs.log").read_text()
    again = real_build(test_specs, tmp_path, jobs=2)
    assert {r.status for r in again.records} == {"cached"}


@pytest.mark.slow
@pytest.mark.parametrize(("vars_toml", "expected"), [
    ('build_cmd = "gcc -o fkapp main.c -lfk -DX=\\"unterminated"\nextra_br = ""',
     ["mock exited with 1: rpmbuild failed (build.log)", "Bad exit status from", "(%build)"]),
    ('build_cmd = "true"\nextra_br = "libdoesnotexist-devel"',
     ["mock exited with 30", "(root.log)", "No matching package to install: 'libdoesnotexist-devel'"]),
], ids=["compile-error", "missing-buildrequires"])
def test_real_mock_failures_quote_the_right_log(test_specs: Path, tmp_path: Path, vars_toml: str,
                                                expected: list[str]) -> None:
    set_vars(test_specs, "fkapp", vars_toml)
    report = real_build(test_specs, tmp_path, packages=("libfk", "fkapp"))
    rec = next(r for r in report.records if r.package == "fkapp")
    assert rec.status == "failed" and report.exit_code == 1
    for text in expected:
        assert text in rec.message, rec.message
