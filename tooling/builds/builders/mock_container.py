"""The mock-container builder: mock inside the target family's official image,
for hosts with podman or docker but no mock. Same result layout as mock.

The build tree is mounted at the same path inside the container, so the
generated mock config, the SRPM, the local repo and the result dir keep their
paths. mock runs with ``isolation='simple'`` (no systemd-nspawn in a container).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from tooling.builds.builders import BuildResult, Job, binary_rpms
from tooling.builds.builders.mock import MockBuilder, interpret
from tooling.run import CommandError, run

# the image mock runs in, per target family (mock builds every family's chroot)
IMAGES = {"fedora": "registry.fedoraproject.org/fedora:latest", "el": "registry.fedoraproject.org/fedora:latest"}


class MockContainerBuilder:
    name = "mock-container"

    def __init__(self, *, config_dir: Path, build_root: Path, engine: str | None = None,
                 go_cache: Path | None = None) -> None:
        self.engine = engine or next((e for e in ("podman", "docker") if shutil.which(e)), "podman")
        self.build_root = build_root
        self.go_cache = go_cache  # mounted at the same path, for mock to bind-mount into its chroots
        self.mock = MockBuilder(config_dir=config_dir, isolation="simple", go_cache=go_cache)

    def available(self) -> tuple[bool, str]:
        if shutil.which(self.engine) is None:
            return False, "neither podman nor docker is installed"
        res = run([self.engine, "info"], check=False, timeout=30)
        if not res.ok:
            return False, f"{self.engine} is installed but cannot run containers ({self.engine} info failed)"
        return True, f"{self.engine} can run containers (mock runs inside {IMAGES['fedora']})"

    def settings(self) -> Mapping[str, str]:
        return {"builder": self.name, "engine": self.engine, "image": IMAGES["fedora"]}

    def argv(self, job: Job) -> list[str]:
        root = str(self.build_root)
        volumes = ["--volume", f"{root}:{root}:z"]
        if self.go_cache is not None:
            volumes += ["--volume", f"{self.go_cache}:{self.go_cache}:z"]
        return [
            self.engine, "run", "--rm", "--privileged", *volumes,
            IMAGES[job.target.family],
            "sh", "-ec", 'dnf -y -q install mock mock-core-configs >/dev/null && exec "$@"', "mock",
            *self.mock.argv(job),
        ]

    def build(self, job: Job) -> BuildResult:
        job.resultdir.mkdir(parents=True, exist_ok=True)
        try:
            run(self.argv(job), log=job.workdir / "mock-container.log")
        except CommandError as exc:
            msg, retry = interpret(exc.returncode, job.resultdir)
            return BuildResult(ok=False, returncode=exc.returncode, retryable=retry,
                               message=f"{job.srpm.nvr} for {job.target.name} (in {self.engine}): {msg}")
        return BuildResult(ok=True, rpms=binary_rpms(job.resultdir))
