"""Links shared by the host builds of one run (rpmbuild builder, issue 17).

The compile cache (tooling/builds/gocache.py) leaves every target the link of its Go binaries,
and on one host those links are the same work again: dockerd for fedora-45 is the very file
that fedora-44's build linked a minute earlier (the targets differ in packaging, not in what
the compiler and linker get). Go's own up-to-date check makes that safe to reuse: ``go build
-o FILE`` does not link when FILE already exists and its Go build ID begins with the action ID
of this link, a hash over every linked package's content, the flags, build mode and toolchain.

So the rpmbuild builder runs Go through ``gowrap/go`` (first on PATH): before ``go build
-o FILE`` in the build tree it puts there the FILE an earlier job of the same package made with
the same command, Go keeps or replaces it, and the result is kept for the next job. A guess
that does not match costs a link, never a wrong binary. What Go's action ID leaves out is the
system linker and the libraries a cgo link reads: they are the host's for every target of a
run, so the cache lives only as long as one run (``<build-dir>/.linkcache``, removed at its end; on
the build directory's disk, not the tmpfs the trees may use, where it would compete with them),
and one directory per package and set of internal build dependencies unpacked for the job
(their libraries are per target). mock builds each target in its own chroot and does not use
it. ``FORKLIFT_LINK_CACHE=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

ENV = "FORKLIFT_LINK_CACHE"
WRAPPER_DIR = Path(__file__).resolve().parent / "gowrap"
DIRNAME = ".linkcache"


def enabled() -> bool:
    """On unless ``$FORKLIFT_LINK_CACHE`` is ``off``."""
    return os.environ.get(ENV, "on").strip().lower() != "off"


def root(build_dir: Path) -> Path:
    """The run's link cache."""
    return build_dir / DIRNAME


def setup(env: dict[str, str], run_cache: Path, package: str, internal: list[str]) -> list[str]:
    """Run Go through the wrapper for one job (``env`` is the job's environment, PATH final);
    what it set, for root.log. Nothing when there is no Go on PATH."""
    real = shutil.which("go", path=env.get("PATH", ""))
    if real is None:
        return []
    fingerprint = hashlib.sha256("\n".join(sorted(internal)).encode()).hexdigest()[:12]
    cache = run_cache / f"{package}-{fingerprint}"
    cache.mkdir(parents=True, exist_ok=True)
    env["FORKLIFT_REAL_GO"] = real
    env["FORKLIFT_LINK_CACHE_DIR"] = str(cache)
    env["PATH"] = os.pathsep.join([str(WRAPPER_DIR), env.get("PATH", "")])
    return [f"Go link cache of this run (FORKLIFT_LINK_CACHE_DIR): {cache}"]


def remove(build_dir: Path) -> None:
    """After a run (also an interrupted one): the cache is not valid beyond it."""
    shutil.rmtree(root(build_dir), ignore_errors=True)
