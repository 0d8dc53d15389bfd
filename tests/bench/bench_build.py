#!/usr/bin/env python3
"""Benchmarks of `invoke build` (run on demand; medians are reported, nothing is asserted).

  noop      a no-op build of the whole matrix: every target, every package whose SRPM
            and results exist (run a full build first). Goal: under 1 s.
  jobs      two targets built with --jobs 1 and --jobs 2 (--workload): "cpu", three independent
            packages whose %build is one single-threaded compile of about 1.5 s (gcc -O2 on a
            generated C file: the issue's "independent single-threaded builds"), and "tiny", the
            build tests' libfk, fkapp (BuildRequires libfk-devel) and fkdoc, whose builds are
            0.2 s of rpmbuild each, so they measure the fixed costs. Goal: --jobs 2 at least
            1.6x faster on "cpu". Prints, per job, where its time went (lock, SRPM, plan, queue,
            start-up, rpmbuild, publish) and what ran serially.
  overhead  the real engine through the toolchain against upstream's bare build command
            (hack/make.sh dynbinary) on the same source tree. Goal: within 15 %.
  matrix    the Go packages (engine, CLI, containerd where enabled) of one target (--first,
            centos-stream-9: it has containerd) with an empty Go build cache, then of the other
            targets (--targets, default every other target) with that cache. Goal: all targets
            within 1.5x the first target's cold build. --whole: as the goal is worded, every
            target cold in one run (`invoke build -t ...`, empty caches) against --first cold.
  checkout  fedora-45's Go packages in a fresh `git clone` of this repo with an empty Go build
            cache, then in a second fresh clone with the cache the first left. Goal: the second
            at least 3x faster.

  Every Go cache of matrix and checkout is private ($FORKLIFT_BUILD_CACHE under a /tmp/bench-*
  directory): the user's ~/.cache/forklift is neither read nor written.

  .venv/bin/python tests/bench/bench_build.py noop [--runs 5] [--build-dir build]
  .venv/bin/python tests/bench/bench_build.py jobs [--runs 3] [--workload cpu|tiny|both]
  .venv/bin/python tests/bench/bench_build.py overhead --mirror dir:.cache/upstream
  .venv/bin/python tests/bench/bench_build.py matrix [--targets fedora-45 ...] [--jobs 1] [--together|--whole] [--keep]
  .venv/bin/python tests/bench/bench_build.py checkout [--target fedora-45] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from tooling import model  # noqa: E402
from tooling.builds import gocache, pipeline  # noqa: E402


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


# rpmbuild behind a shim that appends "<start> <end> <last argument>" (wall clock) to
# $FORKLIFT_BENCH_RPMBUILD_TIMES, so a job's builder time splits into rpmbuild and the rest
TIMES_SHIM = """#!/bin/bash
start=$(date +%s.%N)
'{rpmbuild}' "$@"
rc=$?
echo "$start $(date +%s.%N) ${@: -1}" >> "$FORKLIFT_BENCH_RPMBUILD_TIMES"
exit $rc
"""


def _shim(directory: Path, text: str) -> Path:
    """A directory holding an `rpmbuild` made from ``text``; put it first on PATH."""
    real = shutil.which("rpmbuild")
    if real is None:
        raise SystemExit("rpmbuild is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "rpmbuild"
    shim.write_text(text.replace("{rpmbuild}", real).replace("{python}", sys.executable))
    shim.chmod(0o755)
    return directory


def _rpmbuild_walls(times_file: Path) -> dict[tuple[str, str], float]:
    """(target, SRPM file name) -> seconds of its `rpmbuild --rebuild`, from the TIMES_SHIM log."""
    out: dict[tuple[str, str], float] = {}
    if not times_file.exists():
        return out
    for line in times_file.read_text().splitlines():
        start, end, last = line.split(" ", 2)
        path = Path(last)
        if path.name.endswith(".src.rpm"):
            out[(path.parent.name, path.name)] = float(end) - float(start)
    return out


def _startup_costs() -> list[tuple[str, float]]:
    """Median seconds to start (and end) the processes every run or job starts, doing nothing."""
    macros = ROOT / "specs" / "host-compat.macros"
    with tempfile.TemporaryDirectory(prefix="bench-startup-", dir="/tmp") as tmp:
        cmds = [
            ("python + import tooling.builds.pipeline (invoke build, once per run)",
             [sys.executable, "-c", "import tooling.builds.pipeline"]),
            ("rpmbuild with the host macros, no work (per SRPM and per build)",
             ["rpmbuild", "--load", str(macros), "-E", "%{?dist}"]),
            ("bash -c true (rpmbuild runs one shell per stage)", ["bash", "-c", "true"]),
            ("createrepo_c on an empty directory (per publish)", ["createrepo_c", "-q", tmp]),
        ]
        out = []
        for label, argv in cmds:
            ts = []
            for _ in range(5):
                start = time.perf_counter()
                subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                ts.append(time.perf_counter() - start)
            out.append((label, statistics.median(ts)))
    return out


def _load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


CPU_PACKAGES = ("fkcpu1", "fkcpu2", "fkcpu3")
CPU_FUNCTIONS = 600  # gcc -O2 on this many generated functions: ~1.5 s on one core of this machine


def _cpu_source(seed: int) -> str:
    """A C program whose -O2 compile is single-threaded CPU work (no I/O, no parallel make)."""
    fs = [f"unsigned f{i}(unsigned x) {{ unsigned a = x * {i + seed}u; for (unsigned k = 0; k < 64; k++) "
          f"{{ a ^= (a << 7) + k * {i + 1}u; a = (a >> 3) | (a << 29); if (a % {i + 5}u == 0) a += {i}; }} "
          f"return a; }}" for i in range(CPU_FUNCTIONS)]
    calls = "".join(f"    s += f{i}(s);\n" for i in range(CPU_FUNCTIONS))
    return "\n".join(fs) + f"\nint main(void) {{\n    unsigned s = 1;\n{calls}    return (int)(s & 1);\n}}\n"


def _write_cpu_package(specs: Path, name: str, seed: int) -> None:
    from tests.builds.conftest import HEADER, PACKAGE_TOML, make_tarball

    d = specs / name
    d.mkdir(parents=True)
    make_tarball(d / f"{name}-1.0.tar.gz", {f"{name}-1.0/work.c": _cpu_source(seed), f"{name}-1.0/LICENSE": "MIT\n"})
    (d / "package.toml").write_text(PACKAGE_TOML.format(name=name, vars=""))
    (d / f"{name}.spec.j2").write_text(HEADER + CPU_SPEC)
    (d / "changelog").write_text(f"* Tue Nov 24 2026 Forklift Bench <bench@example.org> - 1.0-1\n- {name}\n")


CPU_SPEC = """\
BuildRequires:  gcc

%description
A package whose build is one single-threaded compile, for the --jobs benchmark.

%prep
%autosetup

%build
gcc %{optflags} -o %{name} work.c

%install
install -D -m 0755 %{name} %{buildroot}%{_bindir}/%{name}

%files
%license LICENSE
%{_bindir}/%{name}

{{ m.changelog(pkg) }}
"""


def jobs(runs: int, workload: str = "both") -> None:
    for w in (("cpu", "tiny") if workload == "both" else (workload,)):
        print(f"== workload {w}: " + ("three independent packages per target, each %build one single-threaded "
                                       "gcc -O2 compile" if w == "cpu" else
                                       "libfk, fkapp (after libfk) and fkdoc per target: fixed costs") + " ==")
        _jobs(runs, w)
        print()


def _jobs(runs: int, workload: str) -> None:
    from tests.builds.conftest import FKAPP, FKDOC, LIBFK, write_package

    results: dict[int, list[float]] = {1: [], 2: []}
    last: dict[int, tuple[float, list[tuple[tuple[str, str], pipeline.JobTiming, float, str]]]] = {}
    for _ in range(runs):
        for n in (1, 2):
            with tempfile.TemporaryDirectory(prefix="bench-jobs-", dir="/tmp") as tmp:
                specs = Path(tmp) / "specs"
                specs.mkdir()
                shutil.copy(ROOT / "specs" / "targets.toml", specs)
                shutil.copytree(ROOT / "specs" / "_templates", specs / "_templates")
                shutil.copy(ROOT / "specs" / "host-compat.macros", specs)
                if workload == "cpu":
                    for seed, name in enumerate(CPU_PACKAGES, start=3):
                        _write_cpu_package(specs, name, seed)
                else:
                    for name, files in (("libfk", LIBFK), ("fkapp", FKAPP), ("fkdoc", FKDOC)):
                        write_package(specs, name, files)
                shim = _shim(Path(tmp) / "shim", TIMES_SHIM)
                times_file = Path(tmp) / "rpmbuild-times"
                old_path = os.environ["PATH"]
                os.environ["PATH"] = f"{shim}{os.pathsep}{old_path}"
                os.environ["FORKLIFT_BENCH_RPMBUILD_TIMES"] = str(times_file)
                timings: dict[tuple[str, str], pipeline.JobTiming] = {}
                try:
                    start = time.perf_counter()
                    report = pipeline.run_build(model.load(specs), ["fedora-45", "centos-stream-9"], [],
                                                builder="rpmbuild", jobs=n, force=False, json_path=None,
                                                build_dir=Path(tmp) / "build", offline=True,
                                                cache_dir=Path(tmp) / "cache", console=_quiet(), timings=timings)
                    wall = time.perf_counter() - start
                finally:
                    os.environ["PATH"] = old_path
                    del os.environ["FORKLIFT_BENCH_RPMBUILD_TIMES"]
                results[n].append(wall)
                assert report.exit_code == 0, [r.message for r in report.records]
                walls = _rpmbuild_walls(times_file)
                # the SRPMs are built with rpmbuild too (through the shim): those are part of "SRPM"
                rows = []
                for r in report.records:
                    rows.append(((r.target, r.package), timings[(r.target, r.package)],
                                 walls.get((r.target, f"{r.nvr}.src.rpm"), 0.0), r.status))
                last[n] = (wall, rows)
    for n, ts in results.items():
        print(f"--jobs {n}: median {statistics.median(ts):.2f} s over {len(ts)} runs ({', '.join(f'{t:.2f}' for t in ts)})")
    speedup = statistics.median(results[1]) / statistics.median(results[2])
    goal = f"goal >= 1.6x: {'met' if speedup >= 1.6 else 'not met'}" if workload == "cpu" else "fixed costs: no goal"
    print(f"speed-up --jobs 2 against --jobs 1: {speedup:.2f}x ({goal})  [{_load()}]")
    for n, (wall, rows) in sorted(last.items()):
        print(f"\nwhere the time went, last run with --jobs {n} ({wall:.2f} s wall), seconds per job:")
        head = ("job", "lock", "SRPM", "plan", "queued", "start-up", "rpmbuild", "collect", "publish")
        print(f"  {head[0]:<26}" + "".join(f"{h:>9}" for h in head[1:]))
        serial = {"lock": rows[0][1].lock if rows else 0.0, "SRPM": 0.0, "plan": 0.0, "publish": 0.0}
        planned: set[str] = set()
        builds = 0.0
        for (tname, pkg), t, rpmbuild_s, status in rows:
            startup = t.startup + max(t.build - rpmbuild_s, 0.0)  # pool hand-over + builder outside rpmbuild
            print(f"  {tname + '/' + pkg:<26}" + "".join(f"{v:9.3f}" for v in (
                t.lock, t.prepare, t.plan, t.queued, startup, rpmbuild_s, t.collect, t.publish)) + f"  {status}")
            serial["SRPM"] += t.prepare
            if tname not in planned:
                serial["plan"] += t.plan
                planned.add(tname)
            serial["publish"] += t.publish
            builds += t.startup + t.build + t.collect
        # since the critical-path scheduler: the SRPMs are made n at a time before the builds, and each
        # publish runs in the publisher thread beside the builds (its dependents wait for it)
        srpm_wall = serial["SRPM"] / n
        before = serial["lock"] + serial["plan"] + srpm_wall
        print("  start-up = thread pool hand-over + the builder outside rpmbuild (BuildRequires checks and their "
              "processes, hw_info, moving the RPMs); SRPM = render, sources, rpmbuild -bs, header")
        print(f"  before the first build: {before:.2f} s (lock {serial['lock']:.2f}, plan {serial['plan']:.2f}, "
              f"SRPMs {serial['SRPM']:.2f} summed, {n} at a time)")
        print(f"  publishes in the publisher thread, one at a time beside the builds, summed: {serial['publish']:.2f} s")
        print(f"  builds in the worker threads (start-up + builder + collect), summed: {builds:.2f} s")
        if n == 2 and builds > 0:
            # Amdahl with what this run measured: what runs before the builds stays; builds and their
            # publishes split perfectly over the 2 workers (a publish delays only the dependents)
            work = builds + serial["publish"]
            one = serial["lock"] + serial["plan"] + serial["SRPM"] + work
            print(f"  bound for --jobs 2 with these costs (everything after the SRPMs split perfectly over 2): "
                  f"{one / (before + work / 2):.2f}x")
    print("\nprocess start-up, doing nothing (median of 5):")
    for label, secs in _startup_costs():
        print(f"  {label:<72} {secs:6.3f} s")


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
        # cold, like the bare run below: the rpmbuild builder sets GOCACHE itself, under this root
        os.environ["FORKLIFT_BUILD_CACHE"] = str(Path(tmp) / "cache-toolchain")
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
                   GOCACHE=str(work / "gocache-bare"), GOGC=gocache.GOGC)  # the builders' Go settings
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
    check = dict(stages).get("(%check)", 0.0)
    around = toolchain - check
    print(f"overhead: {100 * (toolchain - bare) / bare:.1f} % with %check, whose tests the bare command does not run "
          f"({check:.1f} s: the version, hardening and the security patches' Go regression tests)")
    print(f"overhead of the toolchain around the same compile (everything but %check): "
          f"{100 * (around - bare) / bare:.1f} % (goal within 15 %: {'met' if around - bare <= 0.15 * bare else 'not met'})")


GO_PACKAGES = ("moby-engine-dm", "docker-cli", "containerd")


def _go_packages(matrix: model.Matrix, target: str) -> list[str]:
    """The Go packages this target builds (containerd only where the distro lacks it)."""
    return [p.name for t, p in matrix.pairs([target], list(GO_PACKAGES))]


def _bench_root(kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"bench-{kind}-", dir="/tmp"))


@contextlib.contextmanager
def _stamped_root(kind: str, keep: bool) -> Iterator[Path]:
    """A /tmp/bench-<kind>-* root with the time-stamping rpmbuild shim first on PATH while it is
    used; removed afterwards unless ``keep``."""
    root = _bench_root(kind)
    shim = _shim(root / "shim", STAMP_SHIM)
    os.environ["PATH"] = f"{shim}{os.pathsep}{os.environ['PATH']}"
    try:
        yield root
    finally:
        os.environ["PATH"] = os.environ["PATH"].split(os.pathsep, 1)[1]
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def _private_caches(root: Path) -> Path:
    """Point the Go build cache and the source cache at ``root``; returns the Go cache root."""
    go = root / "forklift-cache"
    os.environ["FORKLIFT_BUILD_CACHE"] = str(go)
    os.environ["FORKLIFT_CACHE"] = str(root / "sources")
    return go


def _du(path: Path) -> str:
    res = subprocess.run(["du", "-sh", str(path)], capture_output=True, text=True, check=False)
    return res.stdout.split("\t")[0] if res.returncode == 0 else "?"


def _build_go(matrix: model.Matrix, targets: list[str], build_dir: Path, mirrors: list[str], jobs: int,
              ) -> tuple[float, list[tuple[str, float, list[tuple[str, float]]]]]:
    """Build the targets' Go packages in one `invoke build` run (rpmbuild, stamped); wall seconds and per
    job (target/package, seconds, stages)."""
    pkgs = sorted({p for t in targets for p in _go_packages(matrix, t)})
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(targets)}: {', '.join(pkgs)}  ({_load()})", flush=True)
    start = time.perf_counter()
    report = pipeline.run_build(matrix, targets, pkgs, builder="rpmbuild", jobs=jobs, force=True, json_path=None,
                                build_dir=build_dir, offline=True, mirrors=mirrors, console=_quiet())
    wall = time.perf_counter() - start
    bad = [f"{r.target}/{r.package}: {r.status} {r.message}" for r in report.records if r.status != "built"]
    if bad:
        raise SystemExit("\n".join(bad))
    per = []
    for r in report.records:
        log = build_dir / "results" / r.target / r.package / "build.log"
        name = r.package if len(targets) == 1 else f"{r.target}/{r.package}"
        per.append((name, r.seconds, phases(log, r.seconds)))
    print(f"  {wall:.1f} s: " + ", ".join(f"{p} {s:.1f} s" for p, s, _ in per), flush=True)
    return wall, per


def _print_stages(per: list[tuple[str, float, list[tuple[str, float]]]]) -> None:
    for pkg, secs, stages in per:
        # phases() was given the job's own time: its last entry is the builder outside rpmbuild
        named = [*stages[:-1], ("builder outside rpmbuild", stages[-1][1])] if stages else []
        print(f"    {pkg:<32} {secs:6.1f} s  " + ", ".join(f"{n} {s:.1f}" for n, s in named if s >= 0.05))


def matrix_bench(first: str, extra: list[str] | None, mirrors: list[str], jobs: int, keep: bool,
                 together: bool = False) -> None:
    """The first target cold (empty caches), then the others with the cache it left: one `invoke build`
    run per target, or with ``together`` one run for all of them (as `invoke build -t A -t B ...`),
    where --jobs can overlap the jobs of different targets."""
    matrix = model.load()
    others = extra if extra is not None else [t for t in matrix.targets if t != first]
    with _stamped_root("matrix", keep) as root:
        go = _private_caches(root)
        print(f"bench root {root}; Go build cache {go} (empty); --jobs {jobs}"
              + ("; the other targets in one run" if together else ""))
        cold, cold_per = _build_go(matrix, [first], root / "build", mirrors, jobs)
        print(f"  Go build cache after {first}: {_du(go)}")
        warm: list[tuple[str, float, list[tuple[str, float, list[tuple[str, float]]]]]] = []
        if together and others:
            secs, per = _build_go(matrix, others, root / "build", mirrors, jobs)
            warm.append((" ".join(others), secs, per))
        else:
            for t in others:
                secs, per = _build_go(matrix, [t], root / "build", mirrors, jobs)
                warm.append((t, secs, per))
    total = cold + sum(s for _, s, _ in warm)
    ratio = total / cold
    print(f"\n{first} cold (empty Go cache): {cold:.1f} s")
    _print_stages(cold_per)
    for t, secs, per in warm:
        print(f"{t} with the cache: {secs:.1f} s")
        _print_stages(per)
    print(f"all {1 + len(others)} targets: {total:.1f} s = {ratio:.2f}x the first target's cold build "
          f"(goal <= 1.5x: {'met' if ratio <= 1.5 else 'not met'})"
          + ("" if extra is None else f" [only --targets {' '.join(others)}]") + f"  [{_load()}]")
    if warm:
        mean = sum(s for _, s, _ in warm) / len(others)
        full = len(matrix.targets)
        print(f"  per extra target: mean {mean:.1f} s = {mean / cold:.2f}x cold; at this rate all {full} targets "
              f"would take {(cold + mean * (full - 1)) / cold:.2f}x (goal 1.5x allows {0.5 / (full - 1):.3f}x "
              "per extra target)")


def matrix_whole_bench(first: str, mirrors: list[str], jobs: int, keep: bool) -> None:
    """The goal as the issue states it: every target's Go packages built cold, in one run as
    `invoke build -t ...` of every target, against one target's cold build; each with empty
    caches of its own."""
    matrix = model.load()
    every = list(matrix.targets)
    with _stamped_root("matrix-whole", keep) as root:
        print(f"bench root {root}; empty Go caches for each run; --jobs {jobs}")
        go = _private_caches(root / "one")
        one, one_per = _build_go(matrix, [first], root / "one" / "build", mirrors, jobs)
        print(f"  Go build cache after {first}: {_du(go)}")
        go = _private_caches(root / "all")
        whole, whole_per = _build_go(matrix, every, root / "all" / "build", mirrors, jobs)
        print(f"  Go build cache after every target: {_du(go)}")
    print(f"\n{first} cold (empty Go cache): {one:.1f} s")
    _print_stages(one_per)
    print(f"all {len(every)} targets cold in one run (empty Go cache): {whole:.1f} s")
    _print_stages(whole_per)
    ratio = whole / one
    print(f"all {len(every)} targets: {whole:.1f} s = {ratio:.2f}x the cold build of {first} "
          f"(goal <= 1.5x: {'met' if ratio <= 1.5 else 'not met'})  [{_load()}]")


def checkout_bench(target: str, mirrors: list[str], keep: bool) -> None:
    root = _bench_root("checkout")
    go = _private_caches(root)
    shim = _shim(root / "shim", STAMP_SHIM)
    env = dict(os.environ, PATH=f"{shim}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    matrix = model.load()
    pkgs = _go_packages(matrix, target)
    results = []
    try:
        for name in ("first", "second"):
            clone = root / name
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            argv = [str(Path(sys.executable).parent / "invoke"), "build", "-t", target, "--builder", "rpmbuild",
                    "--force", *(a for p in pkgs for a in ("-p", p)), *(a for m in mirrors for a in ("--mirror", m))]
            # the clone's own tooling, not this checkout's (the venv's editable install points here)
            cenv = dict(env, PYTHONPATH=str(clone))
            print(f"[{time.strftime('%H:%M:%S')}] {name} clone {clone}: Go cache {_du(go)}  ({_load()})", flush=True)
            start = time.perf_counter()
            res = subprocess.run(argv, cwd=clone, env=cenv, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - start
            if res.returncode != 0:
                raise SystemExit(f"{name} clone: invoke build failed ({res.returncode}):\n{res.stdout[-3000:]}"
                                 f"\n{res.stderr[-3000:]}")
            per = []
            for pkg in pkgs:
                log = clone / "build" / "results" / target / pkg / "build.log"
                per.append((pkg, phases(log, 0.0)))
            results.append((name, wall, per))
            print(f"  {wall:.1f} s", flush=True)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    (_, cold, cold_per), (_, warm, warm_per) = results
    for label, secs, per in (("first clone, empty Go cache", cold, cold_per),
                             ("second clone, the first clone's Go cache", warm, warm_per)):
        print(f"{target} {label}: {secs:.1f} s (invoke build, process start to exit)")
        for pkg, stages in per:
            print(f"    {pkg:<16} " + ", ".join(f"{n} {s:.1f}" for n, s in stages[:-1] if s >= 0.05))
    print(f"second checkout {cold / warm:.2f}x faster than cold (goal >= 3x: "
          f"{'met' if cold / warm >= 3 else 'not met'})  [{_load()}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("noop", "jobs", "overhead", "matrix", "checkout"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build-dir", type=Path, default=ROOT / "build")
    ap.add_argument("--mirror", action="append", default=[])
    ap.add_argument("--first", default="centos-stream-9", help="matrix: the target built cold")
    ap.add_argument("--targets", nargs="+", default=None,
                    help="matrix: the targets built after it (default: every other target)")
    ap.add_argument("--target", default="fedora-45", help="checkout: the target built in the clones")
    ap.add_argument("--jobs", type=int, default=1, help="matrix: invoke build --jobs (default 1, as invoke build)")
    ap.add_argument("--together", action="store_true",
                    help="matrix: build the other targets in one run (invoke build -t A -t B ...), not one run each")
    ap.add_argument("--whole", action="store_true",
                    help="matrix: every target cold in one run against --first cold (each with empty caches)")
    ap.add_argument("--keep", action="store_true", help="matrix, checkout: keep the /tmp/bench-* directory")
    ap.add_argument("--workload", choices=("cpu", "tiny", "both"), default="both",
                    help="jobs: the packages built (default both)")
    args = ap.parse_args()
    mirrors = args.mirror or [f"dir:{ROOT / '.cache' / 'upstream'}"]
    if args.what == "noop":
        noop(args.runs, args.build_dir)
    elif args.what == "jobs":
        jobs(args.runs, args.workload)
    elif args.what == "matrix" and args.whole:
        matrix_whole_bench(args.first, mirrors, args.jobs, args.keep)
    elif args.what == "matrix":
        matrix_bench(args.first, args.targets, mirrors, args.jobs, args.keep, args.together)
    elif args.what == "checkout":
        checkout_bench(args.target, mirrors, args.keep)
    else:
        overhead(mirrors)


if __name__ == "__main__":
    main()
