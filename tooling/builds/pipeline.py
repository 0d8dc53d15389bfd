"""`invoke build`: plan, then build in dependency order and publish.

1. Pick the builder (auto: mock, else mock in a container, else rpmbuild).
2. For every selected (target, package): render, resolve sources, build the
   SRPM when its inputs changed, read its header (tooling.builds.prepare).
   Packages whose sources are missing are reported and left out.
3. Plan each target's layers from the SRPM headers (tooling.builds.plan). A
   cycle or an internal dependency nobody provides stops here, before any build.
4. Run the builds: a job starts once the builds it needs are published;
   up to --jobs run at once, the ready job with the longest chain of work
   behind it first (plan.critical_path, from the build times of earlier runs
   in build/cache/durations.json). A build whose cache key is unchanged and
   whose results exist is skipped. Each success is published to
   build/repos/<target>/ (atomically) by one publisher thread, while the
   scheduler starts the next builds; its dependents start once it is published.
5. Summary table, --json report, exit code 0 (all built), 1 (a build failed)
   or 3 (nothing failed, but packages were left out for missing sources).

Ctrl-C or SIGTERM stops the running builds, publishes nothing more and
writes no cache entry for them.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from tooling import repo
from tooling.builds import linkcache, plan, scratch
from tooling.builds.builders import Builder, BuildResult, Job, binary_rpms
from tooling.builds.cache import BuildCache, HashMemo, build_key
from tooling.builds.lock import BuildLock
from tooling.builds.prepare import Prepared, prepare
from tooling.builds.report import BuildReport, Progress, Record
from tooling.errors import ForkliftError, os_error
from tooling.fsutil import ensure_writable_dir, ensure_writable_file
from tooling.lint import host_compat_macros
from tooling.model import Matrix, Package, Target
from tooling.run import CommandError, terminate_all
from tooling.sources.resolve import MissingSource

BUILDERS = ("auto", "mock", "mock-container", "rpmbuild")


def make_builder(name: str, build_dir: Path, mock_config_dir: Path | None = None) -> Builder:
    from tooling.builds.builders.mock import MockBuilder
    from tooling.builds.builders.mock_container import MockContainerBuilder
    from tooling.builds.builders.rpmbuild import RpmbuildBuilder
    from tooling.builds.gocache import go_root

    if name == "mock":
        return MockBuilder(config_dir=build_dir / "mock", mock_config_dir=mock_config_dir, go_cache=go_root())
    if name == "mock-container":
        return MockContainerBuilder(config_dir=build_dir / "mock", build_root=build_dir, go_cache=go_root())
    if name == "rpmbuild":
        return RpmbuildBuilder()
    raise ForkliftError(f"unknown builder {name!r}", hint=f"one of {', '.join(BUILDERS)}")


def select_builder(name: str, build_dir: Path, mock_config_dir: Path | None = None) -> tuple[Builder, str]:
    """The builder to use and why; for "auto" the first of mock, mock-container, rpmbuild that works."""
    if name != "auto":
        builder = make_builder(name, build_dir, mock_config_dir)
        ok, why = builder.available()
        if not ok:
            raise ForkliftError(f"builder {name} cannot run here: {why}", hint="pick another with --builder, or auto")
        return builder, f"asked for: {why}"
    reasons: list[str] = []
    for candidate in ("mock", "mock-container", "rpmbuild"):
        builder = make_builder(candidate, build_dir, mock_config_dir)
        ok, why = builder.available()
        if ok:
            return builder, "; ".join([*reasons, why])
        reasons.append(why)
    raise ForkliftError("no builder works here: " + "; ".join(reasons),
                        hint="install mock (Fedora), podman, or rpm-build (see README.md set-up)")


@dataclass
class JobTiming:
    """Where one job's wall time went, in seconds: read by tests/bench/bench_build.py, changes nothing."""

    lock: float = 0.0  # acquiring build/.forklift.lock (once per run: the same for every job of the run)
    prepare: float = 0.0  # render, sources, SRPM (only when its inputs changed), header of this (target, package)
    plan: float = 0.0  # its target's dependency plan (once per target: the same for the target's jobs)
    queued: float = 0.0  # build phase start until handed to the pool: its dependencies, a free slot, scheduling
    startup: float = 0.0  # handed to the pool until the builder runs in a worker thread
    build: float = 0.0  # the builder (BuildRequires, rpmbuild or mock)
    collect: float = 0.0  # the builder returned until the scheduler took its result
    publish: float = 0.0  # createrepo_c + atomic swap of the repository, and the cache entry


def _timed_build(builder: Builder, job: Job, timing: JobTiming, submitted: float) -> BuildResult:
    began = time.monotonic()
    timing.startup = began - submitted
    try:
        return builder.build(job)
    finally:
        timing.build = time.monotonic() - began


@dataclass
class Node:
    prepared: Prepared
    deps: tuple[str, ...]  # package names of the same target
    record: Record
    key: str = ""
    resultdir: Path = field(default_factory=Path)

    @property
    def id(self) -> tuple[str, str]:
        return (self.prepared.target.name, self.prepared.package.name)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def run_build(
    matrix: Matrix,
    targets: list[str],
    packages: list[str],
    *,
    builder: str,
    jobs: int,
    force: bool,
    json_path: Path | None,
    build_dir: Path,
    offline: bool,
    dry_run: bool = False,
    cache_dir: Path | None = None,
    mirrors: list[str] | None = None,
    console: Console | None = None,
    mock_config_dir: Path | None = None,
    timings: dict[tuple[str, str], JobTiming] | None = None,
) -> BuildReport:
    """Build ``targets`` x ``packages``; ``timings``, when given, is filled with a JobTiming per
    (target, package) that got that far (tests/bench/bench_build.py)."""
    from tooling.sources.api import sources_config

    out = console or Console(highlight=False, emoji=False, width=None if Console().is_terminal else 150)
    if jobs < 1:
        raise ForkliftError(f"--jobs must be at least 1, not {jobs}")
    start = time.monotonic()
    pairs = matrix.pairs(targets or [matrix.default_target], packages)
    # every output place is checked before any work: a report that cannot be written must not be
    # discovered after the repositories were published
    ensure_writable_dir(build_dir, "--build-dir")
    if json_path is not None:
        ensure_writable_file(json_path, "--json")
    times = timings if timings is not None else {}
    locking = time.monotonic()
    with BuildLock(build_dir), _sigterm_as_interrupt():
        locked = time.monotonic() - locking
        chosen, reason = select_builder(builder, build_dir, mock_config_dir)
        out.print(f"builder: {chosen.name} ({reason})", highlight=False, markup=False)
        # host builds keep their trees on tmpfs when there is room (tooling/builds/scratch.py)
        work = scratch.choose(build_dir, jobs) if chosen.name == "rpmbuild" else None
        if work is not None and not dry_run:
            scratch.claim(work, build_dir)
            out.print(f"scratch: {work.why}", highlight=False, markup=False)
        report = BuildReport(builder=chosen.name, builder_reason=reason, jobs=jobs, dry_run=dry_run)
        memo = HashMemo(build_dir / "cache" / "hashes.json")
        cache = BuildCache(build_dir / "cache")
        src_cache, mirror_list = sources_config(cache_dir, mirrors)
        nodes: dict[tuple[str, str], Node] = {}
        by_target: dict[str, list[Prepared]] = {}
        def timed_prepare(target: Target, package: Package, timing: JobTiming) -> Prepared | list[MissingSource]:
            began = time.monotonic()
            try:
                return prepare(matrix, target, package, srpm_dir=build_dir / "srpms" / target.name,
                               cache=src_cache, mirrors=mirror_list, offline=offline, memo=memo)
            finally:
                timing.prepare = time.monotonic() - began

        # the SRPMs are made --jobs at a time (rpmbuild -bs and source checks are processes and
        # file I/O); their results are taken in the order of the pairs, so the report is stable
        with ThreadPoolExecutor(max_workers=jobs) as prep_pool:
            made = []
            for target, package in pairs:
                timing = times.setdefault((target.name, package.name), JobTiming())
                timing.lock = locked
                made.append(prep_pool.submit(timed_prepare, target, package, timing))
        for (target, package), fut in zip(pairs, made, strict=True):
            record = Record(target=target.name, package=package.name)
            report.records.append(record)
            try:
                result = fut.result()
            except (ForkliftError, OSError) as exc:
                # a spec that does not render or build into an SRPM, a source with wrong bytes: this
                # package fails, the others go on
                err = os_error(exc) if isinstance(exc, OSError) else exc
                record.status = "failed"
                record.message = f"{package.name} for {target.name}: no SRPM: {_first_error(err)}\n{err}"
                out.print(f"failed: {package.name} for {target.name} (SRPM)", highlight=False, markup=False)
                out.print(record.message, highlight=False, markup=False, soft_wrap=True)
                continue
            if isinstance(result, list):
                record.status = "missing-sources"
                record.message = "\n".join(m.describe() for m in result)
                report.missing_sources += [
                    {"target": target.name, "package": m.package, "file": m.file, "tried": list(m.tried),
                     "how": m.how()} for m in result
                ]
                continue
            record.nvr = result.info.nvr
            by_target.setdefault(target.name, []).append(result)
        for tname in list(by_target):
            by_target[tname] = _leave_out_dependents(tname, by_target[tname], report)
        for tname, prepared in by_target.items():
            began = time.monotonic()
            deps = plan.dependencies([p.info for p in prepared], matrix.packages)
            plan.plan_layers([p.info for p in prepared], matrix.packages)  # raises on a cycle, before any build
            planned = time.monotonic() - began
            for p in prepared:
                record = next(r for r in report.records if (r.target, r.package) == (tname, p.package.name))
                nodes[(tname, p.package.name)] = Node(
                    prepared=p, deps=deps[p.info.name], record=record,
                    resultdir=build_dir / "results" / tname / p.package.name)
                times[(tname, p.package.name)].plan = planned
        _skip_dependents_of_missing(nodes, report)
        if dry_run:
            _print_plan(out, nodes, by_target)
        else:
            work_root = work.root if work is not None else build_dir / "work"
            try:
                try:
                    _execute(nodes, chosen, build_dir, cache, memo, jobs, force, out, matrix, times, work_root)
                finally:
                    linkcache.remove(build_dir)  # valid for this run only
                if work is not None:
                    scratch.tidy(work)
            except ForkliftError:  # interrupted: still say what happened, in the table and the report
                memo.save()
                report.seconds = time.monotonic() - start
                out.print(report.table())
                if json_path:
                    report.write_json(json_path)
                raise
        memo.save()
        report.seconds = time.monotonic() - start
        out.print(report.table())
        if report.missing_sources:
            out.print("missing upstream sources (packages left out of this run):", style="yellow")
            for r in report.records:
                if r.status == "missing-sources":
                    out.print(r.message, highlight=False, markup=False)
        if json_path:
            report.write_json(json_path)
        return report


def _first_error(err: ForkliftError) -> str:
    """The line that says what went wrong: rpmbuild's first `error:` line, else the message's first line."""
    if isinstance(err, CommandError):
        for line in err.output.splitlines():
            if line.strip().startswith("error:"):
                return line.strip()
    return str(err).splitlines()[0]


def _leave_out_dependents(tname: str, prepared: list[Prepared], report: BuildReport) -> list[Prepared]:
    """Packages that BuildRequire a package of this repo that is left out of the run (failed to prepare,
    missing sources) are skipped here, naming it, instead of stopping the run in the plan."""
    left_out = {r.package for r in report.records if r.target == tname and r.status in ("failed", "missing-sources")}
    keep = list(prepared)
    changed = bool(left_out)
    while changed:
        changed = False
        provided = {prov for p in keep for prov in p.info.provides}
        for p in list(keep):
            for br in p.info.buildrequires:
                name = plan.dep_name(br)
                if name in provided:
                    continue
                culprit = next((n for n in sorted(left_out) if name == n or name.startswith(n + "-")), None)
                if culprit is None:
                    continue
                record = next(r for r in report.records if (r.target, r.package) == (tname, p.package.name))
                record.status = "skipped"
                record.message = f"needs {name} from {culprit}, which is not built in this run (see {culprit})"
                keep.remove(p)
                left_out.add(p.package.name)
                changed = True
                break
    return keep


def _skip_dependents_of_missing(nodes: dict[tuple[str, str], Node], report: BuildReport) -> None:
    """A package that needs a package left out (missing sources) cannot build either."""
    missing = {(r.target, r.package) for r in report.records if r.status == "missing-sources"}
    changed = True
    while changed:
        changed = False
        for nid, node in list(nodes.items()):
            if any((nid[0], d) in missing for d in node.deps):
                node.record.status = "skipped"
                node.record.message = "needs a package whose sources are missing"
                missing.add(nid)
                del nodes[nid]
                changed = True


def _print_plan(out: Console, nodes: dict[tuple[str, str], Node], by_target: dict[str, list[Prepared]]) -> None:
    for tname, prepared in by_target.items():
        layers = plan.plan_layers([p.info for p in prepared if (tname, p.package.name) in nodes])
        out.print(f"plan for {tname}:", highlight=False)
        for n, layer in enumerate(layers, 1):
            out.print(f"  layer {n}: " + ", ".join(i.nvr for i in layer), highlight=False, markup=False)
        for node in nodes.values():
            if node.prepared.target.name == tname:
                node.record.status = "planned"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _execute(nodes: dict[tuple[str, str], Node], builder: Builder, build_dir: Path, cache: BuildCache,
             memo: HashMemo, jobs: int, force: bool, out: Console, matrix: Matrix,
             times: dict[tuple[str, str], JobTiming], work_root: Path) -> None:
    done: dict[tuple[str, str], dict[str, str]] = {}  # node -> {rpm name: sha256} of its results
    failed: set[tuple[str, str]] = set()
    running: dict[Future[BuildResult], tuple[Node, float]] = {}
    publishing: dict[Future[dict[str, str]], Node] = {}
    pending = dict(nodes)
    settings = dict(builder.settings())
    host_macros = host_compat_macros(matrix.root) if builder.name == "rpmbuild" else None
    # host builds share their Go links within this run (tooling/builds/linkcache.py)
    link_cache = linkcache.root(build_dir) if builder.name == "rpmbuild" and linkcache.enabled() else None
    # longest remaining chain first, by the build times of earlier runs (plan.critical_path)
    deps = {nid: [(nid[0], d) for d in node.deps if (nid[0], d) in nodes] for nid, node in nodes.items()}
    sizes = {nid: _size(node.prepared.info.path) for nid, node in nodes.items()}
    priority = plan.critical_path(deps, plan.estimated_costs(nodes, cache.durations(), sizes))
    order = sorted(nodes, key=lambda nid: (-priority[nid], nid))
    durations: dict[tuple[str, str], float] = {}
    phase_start = time.monotonic()

    def publish(node: Node, rpms: list[Path], timing: JobTiming) -> dict[str, str]:
        # in the publisher thread: one repository swap at a time, while the scheduler goes on
        began = time.monotonic()
        repo.publish(build_dir / "repos" / node.id[0], rpms)
        entry = cache.put(node.id[0], node.id[1], node.key, node.prepared.info.nvr, rpms, memo)
        timing.publish = time.monotonic() - began
        return dict(entry.rpms)

    with ThreadPoolExecutor(max_workers=jobs) as pool, ThreadPoolExecutor(max_workers=1) as publisher, \
            ThreadPoolExecutor(max_workers=1) as cleaner, Progress(out) as progress:
        try:
            while pending or running or publishing:
                # anything whose dependencies failed is skipped; anything ready is cached or started;
                # repeat until nothing changes (a cached build can make its dependents ready at once)
                changed = True
                while changed:
                    changed = False
                    candidates = [n for n in order if n in pending]
                    if link_cache is not None:
                        # a package already building for another target goes after other ready work:
                        # started once that build is done, it keeps the links it made (linkcache.py)
                        busy = {node.id[1] for node, _ in running.values()}
                        candidates.sort(key=lambda n: n[1] in busy)
                    for nid in candidates:
                        node = pending[nid]
                        tname = nid[0]
                        dep_ids = [(tname, d) for d in node.deps]
                        if any(d in failed for d in dep_ids):
                            node.record.status = "skipped"
                            node.record.message = "a build it needs failed"
                            failed.add(nid)
                            del pending[nid]
                            changed = True
                            continue
                        if not all(d in done for d in dep_ids):
                            continue
                        if len(running) >= jobs:
                            break
                        node.key = build_key(node.prepared.srpm_sha256, node.prepared.target, settings,
                                             {d[1]: done[d] for d in dep_ids})
                        entry = cache.get(*nid)
                        repo_dir = build_dir / "repos" / tname
                        timing = times.setdefault(nid, JobTiming())
                        if not force and entry and entry.key == node.key and entry.valid_in(node.resultdir):
                            timing.queued = time.monotonic() - phase_start
                            node.record.status = "cached"
                            node.record.nvr = entry.nvr
                            node.record.rpms = sorted(entry.rpms)
                            node.record.resultdir = str(node.resultdir)
                            have = {p.name for p in repo.packages(repo_dir)}
                            if not set(entry.rpms) <= have:
                                # through the publisher thread: never two swaps of one repository at once
                                began = time.monotonic()
                                publisher.submit(repo.publish, repo_dir,
                                                 [node.resultdir / n for n in sorted(entry.rpms)]).result()
                                timing.publish = time.monotonic() - began
                            done[nid] = dict(entry.rpms)
                            del pending[nid]
                            changed = True
                            continue
                        job = Job(target=node.prepared.target, srpm=node.prepared.info, resultdir=node.resultdir,
                                  repo_dir=repo_dir, workdir=work_root / tname / nid[1],
                                  uniqueext=nid[1] if jobs > 1 else None, host_macros=host_macros,
                                  link_cache=link_cache)
                        if job.workdir.exists():
                            shutil.rmtree(job.workdir)
                        cache.drop(*nid)
                        progress.started(tname, nid[1], node.resultdir)
                        submitted = time.monotonic()
                        timing.queued = submitted - phase_start
                        running[pool.submit(_timed_build, builder, job, timing, submitted)] = (node, submitted)
                        del pending[nid]
                        changed = True
                        if link_cache is not None:
                            break  # order the rest again, with this package now building
                if not running and not publishing:
                    if pending:
                        stuck = ", ".join(f"{t}/{p}" for t, p in sorted(pending))
                        raise RuntimeError(f"scheduler made no progress with {stuck} pending")  # a bug
                    break
                waitables: list[Future[Any]] = [*running, *publishing]
                finished, _ = wait(waitables, timeout=0.5, return_when=FIRST_COMPLETED)
                progress.refresh()
                for fut in finished:
                    if fut in publishing:
                        node = publishing.pop(fut)
                        done[node.id] = fut.result()  # a publish that failed raises here, as it did inline
                        node.record.status = "built"
                        # a built job's work directory (sources, build tree, buildroot) goes in the
                        # background; a failed one stays for a look
                        cleaner.submit(shutil.rmtree, work_root / node.id[0] / node.id[1], ignore_errors=True)
                        progress.finished(node.record)
                        continue
                    node, started = running.pop(fut)
                    nid = node.id
                    result = fut.result()
                    node.record.seconds = time.monotonic() - started
                    timing = times[nid]
                    timing.collect = node.record.seconds - timing.startup - timing.build
                    node.record.resultdir = str(node.resultdir)
                    if result.ok:
                        rpms = result.rpms or binary_rpms(node.resultdir)
                        durations[nid] = timing.build
                        node.record.rpms = [p.name for p in rpms]
                        publishing[publisher.submit(publish, node, rpms, timing)] = node
                    else:
                        failed.add(nid)
                        node.record.status = "failed"
                        node.record.message = result.message
                        progress.finished(node.record)
        except KeyboardInterrupt:
            terminate_all()
            stopped = []
            for fut, (node, _) in running.items():
                fut.cancel()
                node.record.status = "interrupted"
                stopped.append("/".join(node.id))
            pool.shutdown(wait=True, cancel_futures=True)
            terminate_all()
            # a publish under way finishes (each is one atomic swap): what it published is built
            for pfut, node in publishing.items():
                with contextlib.suppress(Exception):
                    done[node.id] = pfut.result()
                    node.record.status = "built"
            published = sorted("/".join(n.id) for n in nodes.values() if n.record.status == "built")
            what = (f"published before the interrupt: {', '.join(published)}" if published
                    else "nothing was published in this run")
            err = ForkliftError(
                f"interrupted: running builds were stopped ({', '.join(sorted(stopped)) or 'none'}); {what}",
                hint="run invoke build again: finished builds are cached",
            )
            err.exit_code = 130  # type: ignore[attr-defined]
            raise err from None
        finally:
            cache.record_durations(durations)
