"""The tmt tree (tests/tmt) is valid fmf and its tests run the same checks as the vm provisioner."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tooling import REPO_ROOT
from tooling.smoke.provision import CHECKS_SCRIPT, VM_CHECKS

fmf = pytest.importorskip("fmf", reason="needs the fmf library (.venv: pip install fmf)")
TREE = REPO_ROOT / "tests" / "tmt"


def test_tree_has_plans_and_tests() -> None:
    tree = fmf.Tree(str(TREE))
    plans = [n for n in tree.prune(keys=["execute"])]
    tests = [n for n in tree.prune(keys=["test"])]
    assert [p.name for p in plans] == ["/plans/smoke"]
    plan = plans[0].data
    assert plan["discover"]["how"] == "fmf" and plan["execute"]["how"] == "tmt"
    assert "moby-engine-dm" in plan["prepare"][0]["package"]
    assert sorted(t.name for t in tests) == ["/tests/engine", "/tests/packages", "/tests/storage"]
    for t in tests:
        assert t.data["summary"] and t.data["test"] == "./test.sh"
        assert "lvm2" in t.data["require"]  # inherited from tests/main.fmf
        assert (TREE / t.name.lstrip("/") / "test.sh").stat().st_mode & 0o111


def test_tmt_tests_only_name_known_checks() -> None:
    script_checks = set(re.findall(r"^check_([a-z_]+)\(\)", CHECKS_SCRIPT.read_text(), re.M))
    named: set[str] = set()
    for test_sh in TREE.glob("tests/*/test.sh"):
        words = re.findall(r"\b([a-z]+(?:-[a-z]+)*)\b", test_sh.read_text())
        named |= {w for w in words if w.replace("-", "_") in script_checks}
    # every check the vm runs also runs under tmt; tmt also runs storage checks that the VM runs in a boot of
    # their own (tests/smoke/test_storage_setup.py)
    assert set(VM_CHECKS) <= named
    assert named - set(VM_CHECKS) <= {"storage-ownership", "storage-kill-resume"}


def test_lib_finds_the_checks_script(tmp_path: Path) -> None:
    proc = subprocess.run(["sh", "-c", '. ../lib.sh && echo "$CHECKS"'], cwd=TREE / "tests" / "storage",
                          capture_output=True, text=True, check=True)
    assert Path(proc.stdout.strip()) == CHECKS_SCRIPT
