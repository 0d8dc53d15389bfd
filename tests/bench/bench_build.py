#!/usr/bin/env python3
"""Benchmarks of `invoke build` (run on demand; medians are reported, nothing is asserted).

  noop      a no-op build of the whole matrix: every target, every package whose SRPM
            and results exist (run a full build first). Goal: under 1 s.
  jobs      two independent targets built from the test upstreams with --jobs 1 and --jobs 2.
  overhead  the real engine through the toolchain against upstream's bare build command
            (hack/make.sh dynbinary) on the same source tree. Goal: within 15 %.

  .venv/bin/python tests/bench/bench_build.py noop [--runs 5] [--build-dir build]
  .venv/bin/python tests/bench/bench_build.py jobs [--runs 3]
  .venv/bin/python tests/bench/bench_build.py overhead --mirror dir:.cache/upstream
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from tooling import model  # noqa: E402
from tooling.builds import pipeline  # noqa: E402


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def noop(runs: int, build_dir: Path) -> None:
    matrix = model.load()
    times = []
    for i in range(runs):
        start = time.perf_counter()
        report = pipeline.run_build(matrix, list(matrix.targets), [], builder="rpmbuild", jobs=2, force=False,
                                    json_path=None, build_dir=build_dir, offline=True, console=_quiet())
        times.append(time.perf_counter() - start)
        counts: dict[str, int] = {}
        for r in report.records:
            counts[r.status] = counts.get(r.status, 0) + 1
        print(f"run {i + 1}: {times[-1]:.3f} s  {counts}")
    print(f"no-op median: {statistics.median(times):.3f} s (goal < 1 s)")


def jobs(runs: int) -> None:
    from tests.builds.conftest import FKAPP, FKDOC, LIBFK, write_package

    results: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(runs):
        for n in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                specs = Path(tmp) / "specs"
                specs.mkdir()
                shutil.copy(ROOT / "specs" / "targets.toml", specs)
                shutil.copytree(ROOT / "specs" / "_templates", specs / "_templates")
                shutil.copy(ROOT / "specs" / "host-compat.macros", specs)
                for name, files in (("libfk", LIBFK), ("fkapp", FKAPP), ("fkdoc", FKDOC)):
                    write_package(specs, name, files)
                start = time.perf_counter()
                report = pipeline.run_build(model.load(specs), ["fedora-45", "centos-stream-9"], [],
                                            builder="rpmbuild", jobs=n, force=False, json_path=None,
                                            build_dir=Path(tmp) / "build", offline=True,
                                            cache_dir=Path(tmp) / "cache", console=_quiet())
                results[n].append(time.perf_counter() - start)
                assert report.exit_code == 0, [r.message for r in report.records]
    for n, ts in results.items():
        print(f"--jobs {n}: median {statistics.median(ts):.2f} s over {len(ts)} runs ({', '.join(f'{t:.2f}' for t in ts)})")


# rpmbuild behind a shim that stamps each output line with seconds since start, so the
# build.log shows where the time goes (the builder runs `rpmbuild` from PATH)
STAMP_SHIM = """#!/bin/bash
'{rpmbuild}' "$@" 2>&1 | '{python}' -u -c '
import sys, time
t = time.monotonic()
for line in sys.stdin:
    print(f"{time.monotonic() - t:8.2f} {line}", end="", flush=True)
'
exit ${PIPESTATUS[0]}
"""


def phases(build_log: Path, total: float) -> list[tuple[str, float]]:
    """Seconds per rpmbuild stage from a stamped build.log, plus what ran outside rpmbuild."""
    marks: list[tuple[str, float]] = []
    last = 0.0
    for line in build_log.read_text(encoding="utf-8", errors="replace").splitlines():
        stamp, _, text = line.strip().partition(" ")
        try:
            last = float(stamp)
        except ValueError:
            continue
        if text.startswith("Executing(") or text.startswith("Processing files:"):
            marks.append((text.split(":")[0].removeprefix("Executing"), last))
    spans = [(name, (marks[i + 1][1] if i + 1 < len(marks) else last) - t) for i, (name, t) in enumerate(marks)]
    merged: dict[str, float] = {}
    for name, secs in spans:
        key = "packaging" if name.startswith(("Processing", "(%doc", "(%license")) else name
        merged[key] = merged.get(key, 0.0) + secs
    return [*merged.items(), ("outside rpmbuild (SRPM, plan, publish)", total - last)]


def overhead(mirrors: list[str]) -> None:
    matrix = model.load()
    engine = matrix.packages["moby-engine-dm"]
    with tempfile.TemporaryDirectory() as tmp:
        build_dir = Path(tmp) / "build"
        shim = Path(tmp) / "shim"
        shim.mkdir()
        real = shutil.which("rpmbuild")
        if real is None:
            raise SystemExit("rpmbuild is not installed")
        (shim / "rpmbuild").write_text(STAMP_SHIM.replace("{rpmbuild}", real).replace("{python}", sys.executable))
        (shim / "rpmbuild").chmod(0o755)
        os.environ["PATH"] = f"{shim}{os.pathsep}{os.environ['PATH']}"
        os.environ["GOCACHE"] = str(Path(tmp) / "gocache-toolchain")  # cold, like the bare run below
        start = time.perf_counter()
        report = pipeline.run_build(matrix, ["fedora-45"], [engine.name], builder="rpmbuild", jobs=1, force=True,
                                    json_path=None, build_dir=build_dir, offline=True, mirrors=mirrors,
                                    console=_quiet())
        toolchain = time.perf_counter() - start
        os.environ["PATH"] = os.environ["PATH"].split(os.pathsep, 1)[1]
        rec = report.records[0]
        if rec.status != "built":
            raise SystemExit(f"engine build failed: {rec.message}")
        stages = phases(build_dir / "results" / "fedora-45" / engine.name / "build.log", toolchain)
        # the bare upstream command on the same tarball, same Go, same tags
        src = next(Path(m.split(":", 1)[-1]) for m in mirrors) / f"moby-{engine.version}.tar.gz"
        work = Path(tmp) / "bare"
        work.mkdir()
        with tarfile.open(src) as tf:
            tf.extractall(work, filter="data") if sys.version_info >= (3, 11, 4) else tf.extractall(work)
        tree = work / f"moby-{engine.version}"
        gopath = work / "gopath" / "src" / "github.com" / "docker"
        gopath.mkdir(parents=True)
        (gopath / "docker").symlink_to(tree)
        # the same outputs as the spec's %build: dockerd + docker-proxy with the spec's Go flags
        # (DWARF kept for debuginfo), and docker-init (tini-static)
        env = dict(os.environ, GOPATH=str(work / "gopath"), GO111MODULE="off", DOCKER_GITCOMMIT="bench",
                   VERSION=engine.version, DOCKER_BUILDTAGS="seccomp selinux journald",
                   DOCKER_DEBUG="1", DOCKER_LDFLAGS="-compressdwarf=false -B gobuildid", GOFLAGS="-mod=vendor",
                   PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{os.environ['PATH']}",
                   GOCACHE=str(work / "gocache-bare"))
        tini = next(Path(m.split(":", 1)[-1]) for m in mirrors) / "tini-0.19.0.tar.gz"
        with tarfile.open(tini) as tf:
            tf.extractall(work)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True}
        start = time.perf_counter()
        subprocess.run(["hack/make.sh", "dynbinary"], cwd=gopath / "docker", env=env, **quiet)
        subprocess.run(["cmake", "-S", str(work / "tini-0.19.0"), "-B", str(work / "tini-build"),
                        "-DCMAKE_BUILD_TYPE=Release"], **quiet)
        subprocess.run(["make", "-j2", "-C", str(work / "tini-build"), "tini-static"], **quiet)
        bare = time.perf_counter() - start
    print(f"engine through the toolchain (SRPM + rpmbuild --rebuild, cold Go cache): {toolchain:.1f} s")
    for name, secs in stages:
        print(f"  {name:<40} {secs:6.1f} s")
    print(f"bare hack/make.sh dynbinary + tini-static, same flags (cold Go cache): {bare:.1f} s")
    print(f"overhead: {100 * (toolchain - bare) / bare:.1f} % (goal within 15 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("noop", "jobs", "overhead"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build")
    ap.add_argument("--mirror", action="append", default=[])
    args = ap.parse_args()
    if args.what == "noop":
        noop(args.runs, args.build_dir)
    elif args.what == "jobs":
        jobs(args.runs)
    else:
        overhead(args.mirror or [f"dir:{ROOT / '.cache' / 'upstream'}"])


if __name__ == "__main__":
    main()
