"""invoke release-report on real builds: the test upstreams built twice with the rpmbuild builder
(one reproducible package, one that stamps the build time into a file), SBOMs validated with
spdx-tools, the HTML page rendered by a real headless chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from rich.console import Console

from tests.builds.conftest import FKDOC, SPECS, make_tarball, set_vars, test_specs  # noqa: F401  (fixture)
from tests.conftest import require_tool
from tests.release.conftest import TARGET, make_repo
from tooling import model
from tooling.release import report, sbom

pytestmark = pytest.mark.slow

COMMIT = "0123456789abcdef0123456789abcdef01234567"
SECURITY = """\
line = "fkdoc 1.0"
reviewed = "2026-11-30"

[[cve]]
id = "CVE-2026-0001"
component = "fkdoc"
summary = "Test advisory for the release report"
severity = "low"
status = "fixed"
fixed_in = "1.0"
"""


CLAMP = ("# what Fedora's redhat-rpm-config sets (the host rpmbuild builder on Debian does not)\n"
         "%global source_date_epoch_from_changelog 1\n%global clamp_mtime_to_source_date_epoch 1\n")


def _add_like_fkdoc(root: Path, name: str, build_cmd: str, clamp: bool) -> None:
    """Another package made from fkdoc's template and upstream, with its own %build."""
    d = root / name
    d.mkdir()
    make_tarball(d / f"{name}-1.0.tar.gz", {k.replace("fkdoc", name): v for k, v in FKDOC.items()})
    (d / f"{name}.spec.j2").write_text((CLAMP if clamp else "") + SPECS["fkdoc"].replace("fkdoc", name))
    (d / "package.toml").write_text((root / "fkdoc" / "package.toml").read_text().replace("fkdoc", name))
    (d / "changelog").write_text((root / "fkdoc" / "changelog").read_text().replace("fkdoc", name))
    set_vars(root, name, f'build_cmd = "{build_cmd}"')


@pytest.fixture
def two_builds(test_specs: Path, tmp_path: Path) -> tuple[model.Matrix, Path, Path, Path]:  # noqa: F811
    """build1 and build2: the same inputs built twice; build1's --json report."""
    from tooling.builds import pipeline

    shutil.rmtree(test_specs / "libfk")
    shutil.rmtree(test_specs / "fkapp")
    set_vars(test_specs, "fkdoc", f'build_cmd = "true"\ncommit = "{COMMIT}"')
    (test_specs / "fkdoc" / "security.toml").write_text(SECURITY)
    (test_specs / "fkdoc" / "fkdoc.spec.j2").write_text(CLAMP + SPECS["fkdoc"])
    # fkstamp writes the build time into the file it ships; fknoclamp is fkdoc without the clamping macros
    _add_like_fkdoc(test_specs, "fkstamp", "date +%%s%%N >> README", clamp=True)
    _add_like_fkdoc(test_specs, "fknoclamp", "true", clamp=False)
    matrix = model.load(test_specs)
    json_path = tmp_path / "build1.json"
    for n in (1, 2):
        if n == 2:
            # fknoclamp's unclamped mtimes differ only if the two builds fall in different seconds: fast
            # builds (a quiet machine, the SRPMs made in parallel) finished both within one
            time.sleep(1.1)
        rep = pipeline.run_build(matrix, [TARGET], [], builder="rpmbuild", jobs=2, force=True,
                                 json_path=json_path if n == 1 else None, build_dir=tmp_path / f"build{n}",
                                 offline=True, cache_dir=tmp_path / "cache", mirrors=[],
                                 console=Console(file=open("/dev/null", "w"), width=200))  # noqa: SIM115
        assert rep.exit_code == 0, [r.message for r in rep.records]
    return matrix, tmp_path / "build1", tmp_path / "build2", json_path


def _write_smoke(build_dir: Path) -> None:
    from tooling.smoke.report import SmokeReport, write
    from tooling.smoke.verdict import CheckResult

    out = build_dir / "smoke" / TARGET
    out.mkdir(parents=True)
    write(SmokeReport(TARGET, "vm", "rpm", (CheckResult("engine-starts", "PASS", 3.5, "ok"),
                                            CheckResult("thin-check", "FAIL", 1.0, "thin_check: bad superblock"))),
          out)


def test_release_report_of_two_builds(two_builds: tuple[model.Matrix, Path, Path, Path], tmp_path: Path) -> None:
    matrix, build1, build2, json_path = two_builds
    _write_smoke(build1)
    out = report.release_report(matrix, matrix.targets[TARGET], build1, tmp_path / "rel", build_json=json_path,
                                rebuild_dir=build2)
    data = json.loads((out / "release.json").read_text())
    files = {p["name"]: p for p in data["packages"]}
    assert set(files) == {"fkdoc", "fkstamp", "fknoclamp"}
    assert files["fkdoc"]["commit"] == COMMIT and files["fkdoc"]["nvr"] == "fkdoc-1.0-1.fc45"
    # reproducibility: fkdoc identical payload; fkstamp differs, and the reason names the file
    repro = {r["file"].split("-1.0")[0]: r for r in data["reproducibility"]["rows"]}
    assert repro["fkdoc"]["verdict"] == "reproducible", repro
    assert repro["fkstamp"]["verdict"] == "differs"
    assert "file contents differ: /usr/share/doc/fkstamp/README" in repro["fkstamp"]["reason"]
    assert repro["fknoclamp"]["verdict"] == "differs"
    assert "file mtimes differ (/usr/share/doc/fknoclamp/README" in repro["fknoclamp"]["reason"]
    assert "clamp_mtime_to_source_date_epoch" in repro["fknoclamp"]["reason"]
    # build times from the build's JSON report, CVEs from security.toml (and a note for the package without)
    assert {b["package"] for b in data["build_times"]["rows"]} == {"fkdoc", "fkstamp", "fknoclamp"}
    assert all(b["seconds"] > 0 for b in data["build_times"]["rows"])
    assert [c["id"] for c in data["cves"]["rows"]] == ["CVE-2026-0001"]
    assert "fkstamp" in data["cves"]["note"] and "fkdoc" not in data["cves"]["note"]
    assert [(s["check"], s["verdict"]) for s in data["smoke"]["rows"]] == [("engine-starts", "PASS"),
                                                                          ("thin-check", "FAIL")]
    # SBOMs valid for the SPDX project's own validator; SHA256SUMS checks out with sha256sum
    for p in data["packages"]:
        assert p["sbom_valid"] and sbom.validate(out / p["sbom"]) == []
    # SHA256SUMS: the RPMs (checked where they are, in the repository) and the SBOMs (beside the report)
    sums = (out / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 6 and sum(1 for s in sums if "sboms/" in s) == 3
    repo = (build1 / "repos" / TARGET).resolve()
    for where, lines in ((out, [s for s in sums if "sboms/" in s]), (repo, [s for s in sums if "sboms/" not in s])):
        check = subprocess.run(["sha256sum", "--check", "--strict", "-"], cwd=where, input="\n".join(lines) + "\n",
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    md = (out / "release.md").read_text()
    assert "| fkdoc-1.0-1.fc45.noarch.rpm |" in md and "CVE-2026-0001" in md
    _check_in_chromium(out / "release.html", tmp_path, n_rpms=3)


def _check_in_chromium(page: Path, tmp_path: Path, n_rpms: int) -> None:
    require_tool("chromium")
    proc = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert proc.returncode == 0 and "<body>" in dom, proc.stderr[-2000:]
    for table in ("packages", "changelog", "cves", "build-times", "smoke", "sboms", "reproducibility", "checksums"):
        assert f'<table id="{table}">' in dom, table
    rows = re.search(r'<table id="packages">.*?<tbody>(.*?)</tbody>', dom, re.S)
    assert rows is not None and rows.group(1).count("<tr>") == n_rpms
    shot = tmp_path / "page.png"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={shot}",
                    "--window-size=1200,2000", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_changelog_since_the_previous_release(tmp_path: Path, rpms_dir: Path) -> None:
    """fkone 1.1-1 after 1.0-1: only the newer entry; a second run of the same release keeps that."""
    matrix = model.load()
    b = tmp_path / "build"
    make_repo(b, [rpms_dir / "fkone-1.0-1.noarch.rpm"])
    out = report.release_report(matrix, matrix.targets[TARGET], b, tmp_path / "rel")
    first = json.loads((out / "release.json").read_text())
    assert [c["evr"] for c in first["changelog"]["entries"]] == ["1.0-1", "0.9-1"]  # no previous: every entry
    make_repo(b, [rpms_dir / "fkone-1.1-1.noarch.rpm"])
    for _ in range(2):
        out = report.release_report(matrix, matrix.targets[TARGET], b, tmp_path / "rel")
        data = json.loads((out / "release.json").read_text())
        assert [c["evr"] for c in data["changelog"]["entries"]] == ["1.1-1"]
        assert data["previous"] == {"fkone": "1.0-1"}
    assert "no build report given" in data["build_times"]["note"]
    assert "no smoke report" in data["smoke"]["note"]
    assert "not checked: pass --rebuild-dir" in data["reproducibility"]["note"]
