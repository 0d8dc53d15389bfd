"""What tasks.py calls: koji-build, koji-status, koji-tag. Each raises ForkliftError on user-facing failure.

The optional keywords (poll_interval, retry, console) exist for tests and scripts;
tasks.py leaves them at their defaults (the profile's poll_interval, RetryPolicy()).
"""

from __future__ import annotations

import functools
import logging
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from koji_cli.lib import unique_path
from rich.console import Console

from tooling import repo
from tooling.builds.lock import BuildLock
from tooling.builds.plan import SrpmInfo
from tooling.errors import ForkliftError
from tooling.koji import calls as plan
from tooling.koji.download import download_results, explain_failures
from tooling.koji.layers import layer_srpms, select_srpms, wait_for_repo
from tooling.koji.session import (
    BUILD_FROM_SRPM_HINT,
    Hub,
    Profile,
    RetryPolicy,
    describe,
    load_profile,
)
from tooling.koji.watch import TaskTree, Watcher
from tooling.model import Matrix
from tooling.redact import redact
from tooling.release import rpminfo
from tooling.release.placeholders import refuse_placeholders, rpm_placeholders

log = logging.getLogger("forklift.koji")
F = TypeVar("F", bound=Callable[..., Any])


def _redacted(func: F) -> F:
    """Mask secrets (a user:password@ in the hub URL, ...) in every error that leaves the API."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ForkliftError as exc:
            exc.message = redact(exc.message)
            exc.hint = redact(exc.hint) if exc.hint else exc.hint
            exc.args = (str(exc),)
            raise

    return wrapper  # type: ignore[return-value]


def _console(console: Console | None) -> Console:
    return console or Console(highlight=False, emoji=False)


@contextmanager
def _logged_in(profile: Profile, retry: RetryPolicy | None) -> Iterator[Hub]:
    hub = Hub(profile, retry=retry)
    hub.login()
    try:
        yield hub
    finally:
        hub.logout()


def _print_calls(console: Console, title: str, calls: list[plan.Call]) -> None:
    console.print(f"[bold]dry run[/]: {redact(title)}; the calls it would make (none made):")
    for call in calls:
        console.print("  " + redact(call.text()), markup=False, soft_wrap=True)


def _failure_error(hub: Hub, tree: TaskTree, what: str, profile: Profile) -> ForkliftError:
    failures = explain_failures(hub, tree)
    failed_roots = [r for r in tree.roots if tree.tasks[r].state != "CLOSED"]
    body = "\n".join(f.text() for f in failures) or "\n".join(
        f"task {r} {tree.tasks[r].label}: {tree.tasks[r].state}" for r in failed_roots)
    links = " ".join(profile.task_url(r) for r in failed_roots) if profile.weburl else ""
    hint = f"details: {links}" if links else "see `invoke koji-status TASK_ID`"
    if any("policy violation (build_from_srpm)" in f.reason for f in failures):
        hint = BUILD_FROM_SRPM_HINT + "; " + hint
    return ForkliftError(f"{what} failed on koji:\n{body}", hint=hint)


@_redacted
def koji_build(matrix: Matrix, target: str, packages: list[str], *, scratch: bool, nowait: bool, profile: str,
               dry_run: bool, build_dir: Path, scm: str | None = None, poll_interval: float | None = None,
               retry: RetryPolicy | None = None, console: Console | None = None) -> None:
    """Build build/srpms/<target>/*.src.rpm on koji in dependency layers; download the results
    into build/results/<target>/<package>/ and publish build/repos/<target>/.

    With ``scm`` (a dist-git repository or base, as for `invoke dist-git --repo`), the hub builds
    each package from ``git+URL#<commit of the target's branch>`` (buildSRPMFromSCM) instead of
    an uploaded SRPM; the local SRPMs still give the dependency layers.
    """
    out = _console(console)
    tgt = matrix.select_targets([target])[0]
    infos = select_srpms(build_dir / "srpms" / target, target, packages, macros=tgt.rpm_macros,
                         known=matrix.packages)
    layers = layer_srpms(infos, scratch=scratch, nowait=nowait)
    if not scratch:
        refuse_placeholders(rpm_placeholders(rpminfo.info(i.path) for i in infos),
                            f"koji-build of {target} (not --scratch)")
    prof = load_profile(profile)
    poll = prof.poll_interval if poll_interval is None else poll_interval
    upload_dir = unique_path("cli-build")
    results = build_dir / "results" / target
    repo_dir = build_dir / "repos" / target
    sources: dict[str, str] | None = None
    if scm is not None:
        from tooling import distgit

        sources = distgit.scm_sources(tgt, [i.name for i in infos], scm)
    if dry_run:
        _print_calls(out, f"koji build of {len(infos)} SRPM(s) for {target} (koji target {tgt.koji_target})",
                     plan.plan_build(prof, tgt.koji_target, layers, upload_dir=upload_dir, scratch=scratch,
                                     nowait=nowait, results_dir=results, repo_dir=repo_dir, scm=sources))
        return
    # koji-build republishes build/repos/<target>/ like a local build: one at a time per build tree
    with BuildLock(build_dir), _logged_in(prof, retry) as hub:
        info = hub.call("getBuildTarget", tgt.koji_target)
        if not info:
            raise ForkliftError(
                f"koji build target {tgt.koji_target!r} (specs/targets.toml: targets.{target}.koji_target) "
                f"does not exist on {prof.hub}",
                hint="fix koji_target in specs/targets.toml or use a profile for the right hub; "
                     "`koji list-targets` shows them")
        watcher = Watcher(hub, out, poll_interval=poll)
        for n, layer in enumerate(layers, 1):
            out.print(f"[bold]layer {n}/{len(layers)}[/]: {', '.join(i.nvr for i in layer)}")
            tasks = {_submit(hub, out, prof, i, tgt.koji_target, upload_dir, scratch,
                             scm_url=sources[i.name] if sources else None): i for i in layer}
            if nowait:
                out.print("not waiting (--nowait); follow with `invoke koji-status TASK_ID`: "
                          + " ".join(str(t) for t in tasks))
                continue
            try:
                tree = watcher.watch(tasks)
            except KeyboardInterrupt:
                out.print("stopped watching; the tasks keep running on the hub: `invoke koji-status TASK_ID` for "
                          + " ".join(str(t) for t in tasks))
                raise
            rpms = _collect(hub, tree, tasks, results, scratch=scratch, target=target)
            _publish(repo_dir, rpms)
            if any(tree.tasks[t].state != "CLOSED" for t in tasks):
                raise _failure_error(hub, tree, f"layer {n} ({', '.join(i.nvr for i in layer)})", prof)
            out.print(f"layer {n}: results in {results}/, repo {repo_dir}/ published")
            if n < len(layers):
                nvrs = [i.nvr for i in layer]
                out.print(f"waiting for the {info['build_tag_name']} repo to contain {', '.join(nvrs)}")
                repo = wait_for_repo(hub, info["build_tag_name"], nvrs, poll_interval=poll)
                out.print(f"repo {repo['id']} of {info['build_tag_name']} has them (event {repo['create_event']})")


def _submit(hub: Hub, out: Console, prof: Profile, info: SrpmInfo, koji_target: str, upload_dir: str,
            scratch: bool, *, scm_url: str | None = None) -> int:
    if scm_url is None:
        out.print(f"uploading {info.path.name} to {upload_dir}")
        hub.guard(lambda: hub.session.uploadWrapper(str(info.path), upload_dir),
                  f"uploadWrapper({info.path.name!r}, {upload_dir!r})")
        src = f"{upload_dir}/{info.path.name}"
    else:
        src = scm_url
        out.print(f"building {info.nvr} from {redact(src)}")
    task_id = submit_build(hub, src, koji_target, plan.build_options(scratch))
    link = f" {prof.task_url(task_id)}" if prof.weburl else ""
    out.print(f"submitted {info.nvr}: task {task_id}{link}")
    return task_id


def _request_src(task: dict[str, Any]) -> str | None:
    request = task.get("request")
    if isinstance(request, str):  # not decoded by the hub: the XML-RPC params
        try:
            request = list(xmlrpc.client.loads(request)[0])
        except Exception:
            return None
    if isinstance(request, list | tuple) and request and isinstance(request[0], str):
        return request[0]
    return None


def find_build_tasks(hub: Hub, src: str, *, created_after: float) -> list[int]:
    """Ids of this user's `build` tasks created after ``created_after`` (a Unix time) from ``src``
    (the upload path or SCM URL, the first argument of build())."""
    opts: dict[str, Any] = {"method": "build", "createdAfter": created_after, "decode": True}
    if hub.user_id is not None:
        opts["owner"] = hub.user_id
    tasks = hub.call("listTasks", opts=opts, queryOpts={"order": "id"}) or []
    return [int(t["id"]) for t in tasks if _request_src(t) == src]


def submit_build(hub: Hub, src: str, koji_target: str, opts: dict[str, Any]) -> int:
    """build(src, koji_target, opts) exactly once, on any hub version.

    No koji hub refuses a replayed call (the 1.36 client's Koji-Session-Callnum header is not what a
    1.35 hub reads), so a request whose reply was lost is never re-sent blindly: first listTasks
    looks for a task the hub already created from ``src``, and that task is used when found.
    """
    policy = hub.session.retry_policy
    # the hub's clock may differ from ours a little; earlier tasks from the same src (an SCM URL
    # can be built twice) are known before sending and never taken for ours
    since = time.time() - 300
    known = set(find_build_tasks(hub, src, created_after=since)) if "://" in src else set()
    start = time.monotonic()
    delays = policy.delays()
    attempt = 1
    while True:
        try:
            return int(hub.call_once("build", src, koji_target, opts, priority=None))
        except ForkliftError:
            raise
        except Exception as exc:  # transient: the hub may or may not have created the task
            delay = next(delays, None)
            if delay is None or time.monotonic() - start + delay >= policy.deadline:
                raise ForkliftError(
                    f"koji hub {hub.profile.hub} kept failing for build({redact(src)!r}) after {attempt} "
                    f"attempt(s): {describe(exc)}; no task from it was found on the hub",
                    hint="try again later; `invoke koji-status` or `koji list-tasks --mine` shows what the hub has",
                ) from None
            log.warning("koji hub %s: no reply to build(%r) (%s); looking for the task before sending again in "
                        "%.2f s", hub.profile.hub, redact(src), describe(exc), delay)
            hub.session.sleep(delay)  # give a slow hub time to finish the first request
            found = [t for t in find_build_tasks(hub, src, created_after=since) if t not in known]
            if found:
                log.warning("koji hub: the lost build() had created task %d; using it", found[0])
                return found[0]
            attempt += 1


def _collect(hub: Hub, tree: TaskTree, tasks: dict[int, SrpmInfo], results: Path, *, scratch: bool,
             target: str) -> list[Path]:
    """Download the results of the tasks that closed; return every RPM now in results/<target>/."""
    for task_id, info in tasks.items():
        if tree.tasks[task_id].state == "CLOSED":
            meta: dict[str, Any] = {"target": target, "package": info.name, "nvr": info.nvr, "task_id": task_id,
                                    "scratch": scratch, "srpm": str(info.path), "status": "success"}
            download_results(hub, tree, task_id, results / info.name, meta=meta)
    return sorted(results.glob("*/*.rpm"))


def _publish(repo_dir: Path, rpms: list[Path]) -> None:
    if rpms:
        repo.publish(repo_dir, rpms)


@_redacted
def koji_status(task_id: int | str, *, profile: str, retry: RetryPolicy | None = None,
                console: Console | None = None) -> None:
    """Print a koji task and its children (state, host); for a failed task, the log tail that explains it."""
    out = _console(console)
    try:
        tid = int(task_id)  # invoke passes positional arguments as strings
    except ValueError:
        tid = 0
    if tid <= 0:
        raise ForkliftError(f"koji task id {task_id!r} is not a task number; pass the number koji-build printed "
                            "(`invoke koji-status 12345`)")
    prof = load_profile(profile)
    hub = Hub(prof, retry=retry)  # reading tasks needs no login
    if not hub.call("getTaskInfo", tid):
        raise ForkliftError(f"koji task {tid} does not exist on {prof.hub} (profile {prof.name!r})")
    tree = TaskTree([tid])
    watcher = Watcher(hub, out, poll_interval=0)
    for _ in range(50):  # follow children of children
        if not watcher.refresh(tree):
            break
    out.print(tree.table(f"koji task {tid}" + (f" ({prof.task_url(tid)})" if prof.weburl else "")))
    if any(t.state == "FAILED" for t in tree.tasks.values()):
        for failure in explain_failures(hub, tree):
            out.print(failure.text(), markup=False)


@_redacted
def koji_tag(tag: str, nvrs: list[str], *, profile: str, dry_run: bool, poll_interval: float | None = None,
             retry: RetryPolicy | None = None, console: Console | None = None) -> None:
    """Tag builds into ``tag`` (tagBuild) and wait for the tagging tasks."""
    out = _console(console)
    if not nvrs:
        raise ForkliftError("koji-tag needs at least one build", hint="invoke koji-tag TAG --nvr NAME-VERSION-RELEASE")
    prof = load_profile(profile)
    if dry_run:
        _print_calls(out, f"tag {len(nvrs)} build(s) into {tag}", plan.plan_tag(prof, tag, nvrs))
        return
    with _logged_in(prof, retry) as hub:
        hub.call("getTag", tag, strict=True)
        for nvr in nvrs:
            hub.call("getBuild", nvr, strict=True)
        tasks = [int(hub.call("tagBuild", tag, nvr)) for nvr in nvrs]
        out.print(f"tagging {', '.join(nvrs)} into {tag}: task(s) {' '.join(map(str, tasks))}")
        tree = Watcher(hub, out, poll_interval=prof.poll_interval if poll_interval is None else poll_interval
                       ).watch(tasks)
        if any(tree.tasks[t].state != "CLOSED" for t in tasks):
            raise _failure_error(hub, tree, f"tagging into {tag}", prof)
        out.print(f"tagged into {tag}: {', '.join(nvrs)}")
