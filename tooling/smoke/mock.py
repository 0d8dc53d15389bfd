"""The mock provisioner: install this repo's packages into the target's mock
chroot (their dependency closure must resolve against the distro plus the
local repo) and run the version checks there."""

from __future__ import annotations

import shutil
import time

from tooling.errors import ForkliftError
from tooling.run import CommandError, run
from tooling.smoke.provision import VERSION_CHECKS, Outcome, SmokeRequest, stage_checks


def mock_argvs(config: str, repo_url: str, packages: list[str], guest_dir: str) -> list[list[str]]:
    """The mock commands in order (pure): init, install with the local repo, copy the checks in, run them."""
    base = ["mock", "-r", config, "--uniqueext", "forklift-smoke", "--addrepo", repo_url]
    return [
        [*base, "--init"],
        [*base, "--install", *packages],
        [*base, "--copyin", f"{guest_dir}/checks.sh", f"{guest_dir}/env", "/tmp/"],
        [*base, "--chroot", "--", "sh", "-c", "set -a; . /tmp/env; set +a; sh /tmp/checks.sh"],
        [*base, "--clean"],
    ]


class MockProvisioner:
    name = "mock"

    def run(self, request: SmokeRequest) -> Outcome:
        if shutil.which("mock") is None:
            raise ForkliftError("the mock provisioner needs mock", hint="install mock, or use --via vm")
        names = request.repo.names
        if not names:
            raise ForkliftError(f"no RPMs in {request.repo.directory}", hint="run invoke build first")
        config = request.image or request.target.mock_chroot()
        work = request.out_dir / "mock"
        stage_checks(work, VERSION_CHECKS, names)
        t0 = time.monotonic()
        console, problems = "", []
        argvs = mock_argvs(config, request.repo.directory.resolve().as_uri(), names, str(work.resolve()))
        for argv in argvs:
            try:
                # the checks report their own failures; every other step must succeed
                res = run(argv, timeout=request.timeout, log=work / "mock.log", check="--chroot" not in argv)
                console += res.stdout + res.stderr
            except CommandError as exc:
                problems.append(str(exc))
                break
        return Outcome(console, f"{', '.join(names)} in mock {config}", {"run": time.monotonic() - t0}, problems)
