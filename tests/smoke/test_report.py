"""Verdict parsing, JUnit XML and the summary."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from tooling.smoke import report, verdict
from tooling.smoke.provision import env_file

CONSOLE = """\
[    1.234] random kernel line
FORKLIFT-BOOTED 4.21\r
FORKLIFT-CHECK versions PASS 1.5 dockerd=[Docker version 24.0.9]\r
noise FORKLIFT-CHECK storage-setup FAIL 7.0 setup failed: exit 1
FORKLIFT-CHECK selinux-enforcing SKIP 0.1 no SELinux in this system
FORKLIFT-CHECK broken line
FORKLIFT-END failed=[storage-setup]
"""


def test_parse_verdicts_from_noisy_console() -> None:
    results = verdict.parse(CONSOLE)
    assert [(r.name, r.status, r.seconds) for r in results] == [
        ("versions", "PASS", 1.5), ("storage-setup", "FAIL", 7.0), ("selinux-enforcing", "SKIP", 0.1),
    ]
    assert results[1].detail == "setup failed: exit 1"
    assert verdict.finished(CONSOLE)
    assert not verdict.finished("FORKLIFT-CHECK a PASS 1 x\n")


def test_junit_and_summary(tmp_path: Path) -> None:
    rep = report.SmokeReport("fedora-45", "vm", "test engine", tuple(verdict.parse(CONSOLE)),
                             {"boot-to-verdict": 42.0}, ("qemu exited 1",))
    assert not rep.ok
    junit, summary = report.write(rep, tmp_path)
    suite = ET.parse(junit).getroot()
    assert suite.tag == "testsuite"
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["storage-setup"].find("failure") is not None
    assert cases["selinux-enforcing"].find("skipped") is not None
    assert cases["versions"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["time.boot-to-verdict"] == "42.0" and props["engine"] == "test engine"
    text = summary.read_text()
    assert "1 passed, 1 failed, 1 skipped" in text
    assert "FAIL  storage-setup" in text and "ERROR harness: qemu exited 1" in text


def test_report_without_verdicts_is_not_ok() -> None:
    assert not report.SmokeReport("t", "vm", "e", ()).ok


def test_env_file_survives_sh_quoting(tmp_path: Path) -> None:
    value = "it's $HOME `x` \"q\""
    env = tmp_path / "env"
    env.write_text(env_file({"FORKLIFT_X": value}))
    out = subprocess.run(["sh", "-c", f'. "{env}"; printf %s "$FORKLIFT_X"'], capture_output=True, text=True,
                         check=True).stdout
    assert out == value
