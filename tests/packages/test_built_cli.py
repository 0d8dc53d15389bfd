"""The docker-cli RPM of a real build (needs the upstream sources, so not in CI; FORKLIFT_SMOKE_BUILD_DIR
or build/): a man page per command, rendered by man(1), the three shells' completions, and the licence
texts of the vendored modules."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import REPO_ROOT, model


@pytest.mark.parametrize("target", ["fedora-45", "centos-stream-9"])
def test_built_cli_has_a_man_page_per_command(target: str, tmp_path: Path) -> None:
    repo = Path(os.environ.get("FORKLIFT_SMOKE_BUILD_DIR", REPO_ROOT / "build")) / "repos" / target
    rpms = sorted(repo.glob("docker-cli-2*.rpm"))
    rpms = [p for p in rpms if not p.name.endswith(".src.rpm")]
    if not rpms:
        pytest.skip(f"no docker-cli RPM in {repo}: build it with the upstream sources (invoke build -t {target})")
    require_tool("rpm", "rpm2cpio", "cpio", "man")
    pkg = model.load().packages["docker-cli"]
    files = subprocess.run(["rpm", "-qlp", str(rpms[0])], capture_output=True, text=True, check=True).stdout.split()
    man1 = sorted(f.rsplit("/", 1)[1] for f in files if "/man1/" in f)
    assert len(man1) >= pkg.vars["manpages_generated_min"], man1
    for page in pkg.vars["manpages_generated_sample"]:
        assert f"{page}.gz" in man1
    for completion in ("/usr/share/bash-completion/completions/docker", "/usr/share/zsh/site-functions/_docker",
                       "/usr/share/fish/vendor_completions.d/docker.fish"):
        assert completion in files
    # the licence texts of the vendored modules (vendor/modules.txt), not of build-time-only code
    lic = "/usr/share/licenses/docker-cli/"
    assert {lic + "LICENSE", lic + "NOTICE", lic + "vendor/github.com/spf13/cobra/LICENSE.txt",
            lic + "vendor/golang.org/x/sys/LICENSE", lic + "vendor/golang.org/x/sys/PATENTS"} <= set(files)
    modules = [m.split()[0] for m in pkg.vars["bundled"]]  # every module of vendor/modules.txt
    covered = [m for m in modules if any(f.startswith(f"{lic}vendor/{m}/") for f in files)]
    assert len(covered) >= 0.9 * len(modules), sorted(set(modules) - set(covered))
    assert not [f for f in files if "blackfriday" in f or "go-md2man" in f]
    unpack = subprocess.run(f"rpm2cpio {rpms[0]} | cpio -idm --quiet", shell=True, cwd=tmp_path, check=False)
    assert unpack.returncode == 0
    # identical texts are kept once (the others link to it) and every link resolves
    assert (tmp_path / "usr/share/licenses/docker-cli/vendor/golang.org/x/net/LICENSE").read_text().startswith(
        "Copyright (c) 2009 The Go Authors.")
    page = tmp_path / "usr/share/man/man1/docker-container-run.1.gz"
    text = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, env={**os.environ, "MANWIDTH": "80"},
                          check=True).stdout
    assert "docker-container-run - Create and run a new container from an image" in text
    assert "--volume" in text  # the flags come from the command itself
