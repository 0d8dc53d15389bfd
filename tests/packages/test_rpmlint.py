"""rpmlint on the rendered specs of the four packages, with the project's filters plus the
host stand-ins for Fedora's rpmlint configuration (tests/packages/rpmlint-host.toml)."""

from __future__ import annotations

import json
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tests.packages.conftest import MATRIX, PACKAGES, Rendered

HOST_CONFIG = Path(__file__).with_name("rpmlint-host.toml")


def combined_config(dest: Path) -> Path:
    """rpmlint keeps only the last -c file's Filters: merge the two into one file."""
    project = tomllib.loads((MATRIX.root / "rpmlint.toml").read_text())
    host = tomllib.loads(HOST_CONFIG.read_text())
    filters = [*project.get("Filters", []), *host.get("Filters", [])]
    # JSON strings are TOML basic strings
    lines = [f"Filters = {json.dumps(filters)}",
             f"BadnessThreshold = {project.get('BadnessThreshold', 1000)}",
             f"ReleaseExtension = {json.dumps(host['ReleaseExtension'])}",
             f"CompressExtension = {json.dumps(host['CompressExtension'])}"]
    dest.write_text("\n".join(lines) + "\n")
    return dest


@pytest.mark.parametrize("target", ["fedora-45", "centos-stream-9"])
def test_specs_are_rpmlint_clean(render_pkg: Callable[[str, str], Rendered], tmp_path: Path, target: str) -> None:
    require_tool("rpmlint")
    config = combined_config(tmp_path / "rpmlint.toml")
    specs = [str(render_pkg(p, target).path) for p in PACKAGES]
    res = subprocess.run(["rpmlint", "-c", str(config), *specs], capture_output=True, text=True, check=False)
    findings = [line for line in res.stdout.splitlines() if ": E: " in line or ": W: " in line]
    assert findings == [], "\n".join(findings)
    assert res.returncode == 0, res.stdout[-2000:]
