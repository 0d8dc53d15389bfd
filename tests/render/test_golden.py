"""Golden files: the rendered output for one Fedora and one EL target per package.

Refresh after an intended change, then review the diff:
    FORKLIFT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py
"""

from __future__ import annotations

import difflib
import os

import pytest

from tooling import REPO_ROOT, model, render

GOLDEN = REPO_ROOT / "tests" / "golden"
MATRIX = model.load()
# EL 9 is the EL target that builds every package (containerd included)
GOLDEN_TARGETS = ("fedora-45", "centos-stream-9")
CASES = MATRIX.pairs(list(GOLDEN_TARGETS), enabled_only=False)


def test_every_package_has_a_fedora_and_an_el_golden() -> None:
    for pkg in MATRIX.packages:
        assert {t.family for t, p in CASES if p.name == pkg} == {"fedora", "el"}, pkg


@pytest.mark.parametrize("case", CASES, ids=[f"{t.name}/{p.name}" for t, p in CASES])
def test_golden(case: tuple[model.Target, model.Package]) -> None:
    target, pkg = case
    text = render.render_spec(MATRIX, target, pkg)
    path = GOLDEN / target.name / f"{pkg.name}.spec"
    if os.environ.get("FORKLIFT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if not path.exists():
        pytest.fail(f"{path} missing: run FORKLIFT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/render/test_golden.py")
    expected = path.read_text()
    if text != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True), str(path), "rendered"))
        pytest.fail(f"rendered spec differs from the golden file:\n{diff}")
