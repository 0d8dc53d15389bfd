"""A small koji hub for tests, faithful to what a real koji 1.35.3 hub does, as observed.

It listens on 127.0.0.1 over HTTPS (the koji client forces https for ssl and
gssapi logins) and implements, independently of the koji library:

- XML-RPC over POST to /kojihub; keyword arguments in a final struct that
  carries ``__starstar: True``; faults with koji's fault codes over HTTP 200;
  an unexpected error in a method is a GenericError fault, never a dropped connection;
- sslLogin on /kojihub/ssllogin from the TLS client certificate's CN, replying
  {session-id, session-key, header-auth}; the Koji-Session-Id / -Key headers
  checked on every later call. Like a 1.35 hub talking to a 1.36 client, it
  does *not* check call numbers: a replayed request runs again;
- rawUpload (octet-stream POST, query filename/filepath/offset/fileverify) replying
  {size, hexdigest, fileverify, offset}; checkUpload replying {size (int), mtime
  (float), hexdigest, sumlength};
- multiCall ([{methodName, params}] -> [[result] | {faultCode, faultString}]);
- ``build`` returns a task id at once, whatever its arguments; the task fails
  later for an unknown target, a missing upload, a policy refusal. The task tree is
  koji's: build -> waitrepo, then rebuildSRPM (uploads) or buildSRPMFromSCM (git+URL#commit,
  sources fetched from the lookaside by hash), both labelled ``srpm``, then buildArch
  (label ``noarch``), then tagBuild for a real build. Tasks go FREE -> ASSIGNED -> OPEN ->
  CLOSED/FAILED and carry label, start_time, completion_time, waiting and awaited;
  a closed build's result is None; buildArch's result names
  ``tasks/NN/NNNN/file`` paths, a brootid and its eight logs;
- buildArch really runs ``rpmbuild --rebuild`` on the SRPM after checking its
  BuildRequires against the build tag's current repo (root.log says "No matching
  package to install" and the fault is ``mock exited with status 30``);
- policies as koji's defaults: non-scratch builds from an SRPM only for admins
  (``policy violation (build_from_srpm)``), builds from SCM for everyone; no
  ``build`` permission needed; tagging governed by tag locks and ``perm`` (a tag
  that needs a permission answers ``tag requires admin permission``) and by a
  ``tag`` policy only when one is set; package lists enforced (``package X not in
  list for tag T``);
- tags with inheritance, events, repo requests (repo.request / repo.checkRequest)
  regenerated a few ticks after they are made; listTasks with owner / method /
  createdAfter / decode.

Tests steer it with ``inject()`` (HTTP 503, connection reset, lost reply, ServerOffline),
``offline`` (every call: ServerOffline 'database outage'), ``expire_after`` (AuthExpired),
``blocked_users``, ``admins``, ``srpm_policy``, ``policies`` and ``add_packages``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import os
import re
import secrets
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import xmlrpc.client
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FREE, OPEN, CLOSED, CANCELED, ASSIGNED, FAILED = range(6)
BUILD_BUILDING, BUILD_COMPLETE, BUILD_FAILED = 0, 1, 3

GENERIC, AUTH, ACTION_NOT_ALLOWED, TAG_ERROR, BUILD_ERROR = 1000, 1002, 1004, 1003, 1005
AUTH_EXPIRED, OFFLINE, PARAMETER = 1007, 1014, 1019

KOJI_VERSION = "1.35.3"
BUILD_ARCH_LOGS = ("build.log", "root.log", "state.log", "mock_output.log", "mock_config.log", "hw_info.log",
                   "installed_pkgs.log", "noarch_rpmdiff.json")


class HubFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat(" ")


def taskrelpath(task_id: int) -> str:
    """koji.pathinfo.taskrelpath: where a task's output lives under the hub's topdir."""
    return f"tasks/{task_id % 10000}/{task_id}"


@dataclass
class Task:
    id: int
    method: str
    request: list[Any]
    arch: str
    owner: int
    parent: int | None = None
    label: str | None = None
    state: int = FREE
    host_id: int | None = None
    result: Any = None
    fault: HubFault | None = None
    create_ts: float = field(default_factory=time.time)
    start_ts: float | None = None
    completion_ts: float | None = None
    waiting: bool | None = None
    awaited: bool | None = None
    ticks: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def info(self, request: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "method": self.method, "arch": self.arch, "state": self.state,
            "owner": self.owner, "parent": self.parent, "host_id": self.host_id, "channel_id": 1,
            "priority": 20, "weight": 1.0, "label": self.label, "waiting": self.waiting, "awaited": self.awaited,
            "create_ts": self.create_ts, "start_ts": self.start_ts, "completion_ts": self.completion_ts,
            "create_time": _iso(self.create_ts), "start_time": _iso(self.start_ts),
            "completion_time": _iso(self.completion_ts),
        }
        if request:
            out["request"] = self.request
        return out


@dataclass
class Build:
    id: int
    name: str
    version: str
    release: str
    task_id: int
    state: int = BUILD_BUILDING
    provides: set[str] = field(default_factory=set)

    @property
    def nvr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "build_id": self.id, "name": self.name, "package_name": self.name,
                "version": self.version, "release": self.release, "epoch": None, "nvr": self.nvr,
                "state": self.state, "task_id": self.task_id, "owner_name": "alice"}


@dataclass
class Tag:
    id: int
    name: str
    parents: list[int] = field(default_factory=list)
    # (build id, event it was tagged at)
    tagged: list[tuple[int, int]] = field(default_factory=list)
    last_change: int = 1
    packages: set[str] = field(default_factory=set)
    locked: bool = False
    perm: str | None = None


@dataclass
class Repo:
    id: int
    tag_id: int
    create_event: int
    provides: frozenset[str]


class FakeHub:
    """State and behaviour; the HTTP layer is _Handler below."""

    def __init__(self, workdir: Path, *, tick: float = 0.03, users: tuple[str, ...] = ("alice",),
                 lookaside: str | None = None) -> None:
        self.workdir = workdir
        self.tick = tick
        self.lookaside = lookaside  # base URL: <base>/rpms/<name>/<file>/sha512/<hash>/<file>
        self.lock = threading.RLock()
        self.users = {name: i + 1 for i, name in enumerate(users)}
        self.admins: set[str] = set()
        self.permissions: dict[str, set[str]] = {name: set() for name in users}  # none by default
        self.srpm_policy = "admin"  # koji's default build_from_srpm policy; "allow" as a private hub may set
        self.policies: dict[str, bool] = {}  # e.g. {"tag": False}: a policy that denies
        self.blocked_users: set[str] = set()
        self.offline = False  # every call: ServerOffline 'database outage'
        self.sessions: dict[int, dict[str, Any]] = {}
        self.issued_keys: list[str] = []
        self.expire_after: int | None = None   # calls per session before AuthExpired
        self.injections: list[tuple[str, str]] = []   # (method, kind), consumed in order
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.transport_log: list[str] = []    # every HTTP request line + headers
        self.tasks: dict[int, Task] = {}
        self.builds: dict[int, Build] = {}
        self.event = 1
        self.tags: dict[int, Tag] = {}
        self.targets: dict[str, tuple[int, int]] = {}
        self.repos: list[Repo] = []
        self.requests: dict[int, dict[str, Any]] = {}
        self.hosts = {1: "builder-01", 2: "builder-02"}
        self.base_provides: set[str] = set()
        self._ids = {"task": 100, "build": 0, "tag": 0, "repo": 0, "req": 0, "session": 0, "broot": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_scheduler, daemon=True)
        self.add_target("f45", build_tag="f45-build", dest_tag="f45")

    # ------------------------------------------------------------ set-up
    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def add_target(self, name: str, *, build_tag: str, dest_tag: str) -> None:
        dest = Tag(self._next("tag"), dest_tag)
        build = Tag(self._next("tag"), build_tag, parents=[dest.id])
        self.tags[dest.id] = dest
        self.tags[build.id] = build
        self.targets[name] = (build.id, dest.id)
        self.repos.append(Repo(self._next("repo"), build.id, self.event, frozenset()))

    def add_packages(self, tag: str, *names: str) -> None:
        """koji add-pkg: put packages on a tag's package list (without it, real builds fail)."""
        t = self._tag(tag)
        assert t is not None
        t.packages.update(names)

    def inject(self, method: str, kind: str, count: int = 1) -> None:
        """kind: 'http503', 'reset' (close the connection unanswered), 'lost-reply' (run the call, then
        close the connection unanswered) or 'offline' (ServerOffline fault)."""
        with self.lock:
            self.injections.extend([(method, kind)] * count)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    # ------------------------------------------------------------ dispatch
    def take_injection(self, method: str) -> str | None:
        with self.lock:
            for i, (m, kind) in enumerate(self.injections):
                if m == method:
                    del self.injections[i]
                    return kind
        return None

    def authenticate(self, headers: dict[str, str], method: str) -> dict[str, Any] | None:
        sid = headers.get("koji-session-id")
        if sid is None:
            return None
        with self.lock:
            sess = self.sessions.get(int(sid))
            if sess is None or not secrets.compare_digest(sess["key"], headers.get("koji-session-key", "")):
                raise HubFault(AUTH, f"invalid session or session key (session id {sid})")
            if sess["expired"]:
                raise HubFault(AUTH_EXPIRED, f"session {sid} expired")
            # no call-number checks: a 1.35 hub reads Koji-Callnum, the 1.36 client sends
            # Koji-Session-Callnum, so a replayed request simply runs again
            sess["calls"] += 1
            if self.expire_after is not None and sess["calls"] > self.expire_after:
                sess["expired"] = True
                raise HubFault(AUTH_EXPIRED, f"session {sid} expired")
            return sess

    def ssl_login(self, user: str | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        if user is None:
            raise HubFault(AUTH, "could not determine user from the client certificate")
        if user not in self.users:
            raise HubFault(AUTH, f"unknown user {user}")
        if user in self.blocked_users:
            raise HubFault(AUTH, f"logins by {user} are not allowed")
        with self.lock:
            sid = self._next("session")
            key = f"{sid}-{secrets.token_urlsafe(16)}"
            self.issued_keys.append(key)
            self.sessions[sid] = {"user": user, "key": key, "calls": 0, "expired": False}
        return {"session-id": sid, "session-key": key, "header-auth": True}

    def call(self, method: str, args: list[Any], kwargs: dict[str, Any], sess: dict[str, Any] | None) -> Any:
        self.calls.append((method, tuple(args), dict(kwargs)))
        if method == "multiCall":
            out: list[Any] = []
            for item in args[0]:
                params = list(item["params"])
                kw: dict[str, Any] = {}
                if params and isinstance(params[-1], dict) and params[-1].get("__starstar"):
                    kw = {k: v for k, v in params.pop().items() if k != "__starstar"}
                try:
                    out.append([self.call(item["methodName"], params, kw, sess)])
                except HubFault as f:
                    out.append({"faultCode": f.code, "faultString": f.message})
            return out
        func = getattr(self, "m_" + method.replace(".", "_"), None)
        if func is None:
            raise HubFault(GENERIC, f"Invalid method: {method}")
        with self.lock:
            try:
                return func(sess, *args, **kwargs)
            except TypeError as exc:
                raise HubFault(PARAMETER, f"bad arguments to {method}: {exc}") from None

    def _user(self, sess: dict[str, Any] | None) -> str:
        if sess is None:
            raise HubFault(ACTION_NOT_ALLOWED, "you must be logged in for this operation")
        return str(sess["user"])

    def _has_perm(self, user: str, perm: str) -> bool:
        return user in self.admins or perm in self.permissions.get(user, set())

    # ------------------------------------------------------------ hub methods
    def m_logout(self, sess: dict[str, Any] | None, session_id: int | None = None) -> None:
        return None

    def m_getLoggedInUser(self, sess: dict[str, Any] | None) -> dict[str, Any] | None:
        if sess is None:
            return None
        return {"id": self.users[sess["user"]], "name": sess["user"]}

    def m_getKojiVersion(self, sess: dict[str, Any] | None) -> str:
        return KOJI_VERSION

    def m_getBuildTarget(self, sess: dict[str, Any] | None, info: Any, event: Any = None,
                         strict: bool = False) -> dict[str, Any] | None:
        if info not in self.targets:
            if strict:
                raise HubFault(GENERIC, f"No such build target: {info}")
            return None
        build_id, dest_id = self.targets[info]
        return {"id": 1, "name": info, "build_tag": build_id, "build_tag_name": self.tags[build_id].name,
                "dest_tag": dest_id, "dest_tag_name": self.tags[dest_id].name}

    def _tag(self, info: Any, strict: bool = True) -> Tag | None:
        for tag in self.tags.values():
            if info in (tag.id, tag.name):
                return tag
        if strict:
            raise HubFault(GENERIC, f"No such tagInfo: {info!r}")
        return None

    def m_getTag(self, sess: dict[str, Any] | None, tagInfo: Any, strict: bool = False, event: Any = None,
                 blocked: bool = False) -> dict[str, Any] | None:
        tag = self._tag(tagInfo, strict)
        if tag is None:
            return None
        return {"id": tag.id, "name": tag.name, "arches": "x86_64", "locked": tag.locked, "perm": tag.perm,
                "perm_id": 1 if tag.perm else None, "maven_support": False, "extra": {}}

    def m_tagLastChangeEvent(self, sess: dict[str, Any] | None, tag: Any) -> int:
        t = self._tag(tag)
        assert t is not None
        return max([t.last_change] + [self.tags[p].last_change for p in t.parents])

    def _tag_chain(self, tag: Tag) -> list[Tag]:
        out = [tag]
        for p in tag.parents:
            out.extend(self._tag_chain(self.tags[p]))
        return out

    def _in_package_list(self, tag: Tag, name: str) -> bool:
        return any(name in t.packages for t in self._tag_chain(tag))

    def _tagged_builds(self, tag: Tag, event: int | None, inherit: bool) -> list[tuple[Build, Tag]]:
        chain = self._tag_chain(tag) if inherit else [tag]
        out = []
        for t in chain:
            for build_id, at in t.tagged:
                if event is None or at <= event:
                    out.append((self.builds[build_id], t))
        return out

    def m_listTagged(self, sess: dict[str, Any] | None, tag: Any, event: int | None = None, inherit: bool = False,
                     prefix: Any = None, latest: bool = False, package: str | None = None, owner: Any = None,
                     type: Any = None, strict: bool = True, extra: bool = False, draft: Any = None) -> list[Any]:
        t = self._tag(tag)
        assert t is not None
        out = []
        for build, where in self._tagged_builds(t, event, inherit):
            if package is None or build.name == package:
                out.append(build.info() | {"tag_id": where.id, "tag_name": where.name})
        return out

    def m_getBuild(self, sess: dict[str, Any] | None, buildInfo: Any, strict: bool = False) -> dict[str, Any] | None:
        for b in self.builds.values():
            if buildInfo in (b.id, b.nvr):
                return b.info()
        if strict:
            raise HubFault(GENERIC, f"No such build: {buildInfo!r}")
        return None

    def m_getHost(self, sess: dict[str, Any] | None, hostInfo: Any, strict: bool = False,
                  event: Any = None) -> dict[str, Any] | None:
        if hostInfo in self.hosts:
            return {"id": hostInfo, "name": self.hosts[hostInfo], "arches": "x86_64 noarch", "enabled": True}
        return None

    # uploads
    def _upload_path(self, path: str, name: str) -> Path:
        target = (self.workdir / "work" / path / name).resolve()
        if not str(target).startswith(str((self.workdir / "work").resolve()) + os.sep):
            raise HubFault(GENERIC, f"invalid upload path {path}/{name}")
        return target

    def raw_upload(self, sess: dict[str, Any] | None, query: dict[str, str], data: bytes) -> dict[str, Any]:
        self._user(sess)
        target = self._upload_path(query["filepath"], query["filename"])
        target.parent.mkdir(parents=True, exist_ok=True)
        offset = int(query.get("offset", "0"))
        if offset == 0 and target.exists() and not query.get("overwrite"):
            raise HubFault(GENERIC, f"file already exists: {query['filepath']}/{query['filename']}")
        verify = query.get("fileverify", "adler32")
        if verify != "adler32":
            raise HubFault(GENERIC, f"Unsupported checksum type: {verify}")
        mode = "r+b" if target.exists() and offset > 0 else "wb"
        with open(target, mode) as fh:
            fh.seek(offset)
            fh.write(data)
        self.calls.append(("rawUpload", (query["filepath"], query["filename"], offset, len(data)), {}))
        return {"size": len(data), "fileverify": verify, "offset": offset,
                "hexdigest": "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)}

    def m_checkUpload(self, sess: dict[str, Any] | None, path: str, name: str, verify: str | None = None,
                      tail: Any = None, volume: Any = None) -> dict[str, Any] | None:
        self._user(sess)
        target = self._upload_path(path, name)
        if not target.exists():
            return None
        data = target.read_bytes()
        st = target.stat()
        out: dict[str, Any] = {"size": st.st_size, "mtime": st.st_mtime, "sumlength": len(data)}
        if verify == "adler32":
            out["hexdigest"] = "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)
        return out

    # builds and tasks
    def _new_task(self, method: str, request: list[Any], arch: str, owner: int, parent: int | None = None,
                  label: str | None = None) -> Task:
        task = Task(self._next("task"), method, request, arch, owner, parent, label)
        self.tasks[task.id] = task
        return task

    def m_build(self, sess: dict[str, Any] | None, src: str, target: str, opts: dict[str, Any] | None = None,
                priority: int | None = None, channel: str | None = None) -> int:
        # like koji: no permission needed and no checks of target or source here; the task fails later
        user = self._user(sess)
        task = self._new_task("build", [src, target, opts or {}], "noarch", self.users[user])
        return task.id

    def m_tagBuild(self, sess: dict[str, Any] | None, tag: Any, build: Any, force: bool = False,
                   fromtag: Any = None) -> int:
        user = self._user(sess)
        t = self._tag(tag)
        b = self.m_getBuild(sess, build, strict=True)
        assert t is not None and b is not None
        if not self._in_package_list(t, b["name"]):
            raise HubFault(TAG_ERROR, f"Package {b['name']} not in list for {t.name}")
        self._assert_tag_access(t, user)
        task = self._new_task("tagBuild", [t.id, b["id"], force, None, False], "noarch", self.users[user])
        return task.id

    def _assert_tag_access(self, t: Tag, user: str) -> None:
        """Tag locks and permissions, then the tag policy when one is set (none by default)."""
        if t.locked and user not in self.admins:
            raise HubFault(ACTION_NOT_ALLOWED, "tag requires admin permission")
        if t.perm and not self._has_perm(user, t.perm):
            raise HubFault(ACTION_NOT_ALLOWED, f"tag requires {t.perm} permission")
        if self.policies.get("tag") is False and user not in self.admins:
            raise HubFault(ACTION_NOT_ALLOWED, "policy violation (tag)")

    def _task(self, task_id: Any) -> Task:
        task = self.tasks.get(task_id)
        if task is None:
            raise HubFault(GENERIC, f"No such task: {task_id}")
        return task

    def m_getTaskInfo(self, sess: dict[str, Any] | None, task_id: Any, request: bool = False,
                      strict: bool = False) -> Any:
        if isinstance(task_id, list):
            return [self.m_getTaskInfo(sess, t, request, strict) for t in task_id]
        task = self.tasks.get(task_id)
        if task is None:
            if strict:
                raise HubFault(GENERIC, f"No such task: {task_id}")
            return None
        return task.info(request)

    def m_getTaskChildren(self, sess: dict[str, Any] | None, task_id: int, request: bool = False,
                          strict: bool = False) -> list[dict[str, Any]]:
        if strict:
            self._task(task_id)
        return [t.info(request) for t in self.tasks.values() if t.parent == task_id]

    def m_getTaskResult(self, sess: dict[str, Any] | None, taskId: int, raise_fault: bool = True) -> Any:
        task = self._task(taskId)
        if task.state == FAILED and task.fault is not None:
            raise task.fault
        if task.state == CANCELED:
            raise HubFault(GENERIC, f"Task {taskId} is canceled")
        if task.state != CLOSED:
            raise HubFault(GENERIC, f"Task {taskId} is not finished")
        return task.result

    def m_listTasks(self, sess: dict[str, Any] | None, opts: dict[str, Any] | None = None,
                    queryOpts: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        opts = opts or {}
        after = opts.get("createdAfter")
        if isinstance(after, str):
            after = datetime.datetime.fromisoformat(after).timestamp()
        out = []
        for t in sorted(self.tasks.values(), key=lambda t: t.id):
            if "owner" in opts and t.owner != opts["owner"]:
                continue
            if "method" in opts and t.method != opts["method"]:
                continue
            if "parent" in opts and t.parent != opts["parent"]:
                continue
            if after is not None and t.create_ts <= float(after):
                continue
            info = t.info(True)
            if not opts.get("decode"):
                info["request"] = xmlrpc.client.dumps(tuple(t.request), allow_none=True)
            out.append(info)
        if (queryOpts or {}).get("order") == "-id":
            out.reverse()
        return out

    def _task_dir(self, task_id: int) -> Path:
        return self.workdir / taskrelpath(task_id)

    def m_listTaskOutput(self, sess: dict[str, Any] | None, taskID: int, stat: bool = False,
                         all_volumes: bool = False, strict: bool = False) -> Any:
        if strict:
            self._task(taskID)
        d = self._task_dir(taskID)
        names = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
        if not stat and not all_volumes:
            return names
        out: dict[str, Any] = {}
        for n in names:
            st = (d / n).stat()
            # st_size as a string (XML-RPC ints are 32-bit), times as floats
            info = {"st_size": str(st.st_size), "st_atime": st.st_atime, "st_mtime": st.st_mtime,
                    "st_ctime": st.st_ctime}
            if all_volumes:
                out[n] = {"DEFAULT": info} if stat else ["DEFAULT"]
            else:
                out[n] = info
        return out

    def m_downloadTaskOutput(self, sess: dict[str, Any] | None, taskID: int, fileName: str, offset: int = 0,
                             size: int = -1, volume: Any = None) -> str:
        path = self._task_dir(taskID) / fileName
        if "/" in fileName or not path.is_file():
            raise HubFault(GENERIC, f'no file "{fileName}" output by task {taskID}')
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read() if size < 0 else fh.read(size)
        return base64.b64encode(data).decode("ascii")

    # repos
    def _current_repo(self, tag_id: int) -> Repo:
        return max((r for r in self.repos if r.tag_id == tag_id), key=lambda r: r.id)

    def _repo_info(self, repo: Repo) -> dict[str, Any]:
        return {"id": repo.id, "tag_id": repo.tag_id, "tag_name": self.tags[repo.tag_id].name,
                "create_event": repo.create_event, "state": 1, "opts": None, "custom_opts": None, "dist": False}

    def m_repo_request(self, sess: dict[str, Any] | None, tag: Any, min_event: int | None = None,
                       at_event: Any = None, opts: Any = None, priority: Any = None, force: bool = False) -> Any:
        t = self._tag(tag)
        assert t is not None
        if min_event is None:
            min_event = self.m_tagLastChangeEvent(sess, t.id)
        repo = self._current_repo(t.id)
        if repo.create_event >= min_event and not force:
            return {"repo": self._repo_info(repo), "request": None}
        req: dict[str, Any] = {"id": self._next("req"), "tag_id": t.id, "min_event": min_event, "active": True,
                               "task_id": None, "task_state": None, "repo_id": None, "tries": 0, "ticks": 0}
        self.requests[req["id"]] = req
        return {"repo": None, "request": {k: v for k, v in req.items() if k != "ticks"}}

    def m_repo_checkRequest(self, sess: dict[str, Any] | None, req_id: int) -> Any:
        req = self.requests.get(req_id)
        if req is None:
            raise HubFault(GENERIC, f"No such repo request: {req_id}")
        repo = next((r for r in self.repos if r.id == req["repo_id"]), None)
        return {"request": {k: v for k, v in req.items() if k != "ticks"},
                "repo": self._repo_info(repo) if repo else None}

    # ------------------------------------------------------------ the scheduler (kojid + kojira)
    def _run_scheduler(self) -> None:
        while not self._stop.wait(self.tick):
            with self.lock:
                tasks = [t for t in self.tasks.values() if t.state in (FREE, ASSIGNED, OPEN)]
                requests = [r for r in self.requests.values() if r["active"]]
            for task in tasks:
                try:
                    self._step(task)
                except HubFault as fault:
                    with self.lock:
                        self._finish(task, False, fault)
                except Exception as exc:  # a bug in the fake: fail the task visibly, like kojid would
                    with self.lock:
                        self._finish(task, False, HubFault(GENERIC, f"{type(exc).__name__}: {exc}"))
            for req in requests:
                self._step_request(req)

    def _step_request(self, req: dict[str, Any]) -> None:
        with self.lock:
            req["ticks"] += 1
            if req["ticks"] == 1:  # kojira: a newRepo task with a createrepo child
                tag = self.tags[req["tag_id"]]
                new_repo = self._new_task("newRepo", [tag.name], "noarch", 0, label=None)
                self._new_task("createrepo", [tag.name, "noarch"], "noarch", 0, new_repo.id, label="noarch")
                req["task_id"] = new_repo.id
            if req["ticks"] < 4:   # kojira takes a while
                return
            tag = self.tags[req["tag_id"]]
            self.event += 1
            provides: set[str] = set()
            for build, _ in self._tagged_builds(tag, None, inherit=True):
                provides |= build.provides
            repo = Repo(self._next("repo"), tag.id, self.event, frozenset(provides))
            self.repos.append(repo)
            for t in self.tasks.values():
                if t.id == req["task_id"] or t.parent == req["task_id"]:
                    self._finish(t, True, result=[repo.id, self.event] if t.method == "newRepo" else None)
            req.update(active=False, repo_id=repo.id, task_state=CLOSED)

    def _finish(self, task: Task, ok: bool, fault: HubFault | None = None, result: Any = None) -> None:
        task.state = CLOSED if ok else FAILED
        task.fault, task.result, task.completion_ts = fault, result, time.time()
        task.waiting = None
        if task.start_ts is None:
            task.start_ts = task.completion_ts

    def _step(self, task: Task) -> None:
        task.ticks += 1
        with self.lock:
            if task.state == FREE:   # the scheduler assigns it to a host ...
                task.state, task.host_id = ASSIGNED, 1 if task.method != "buildArch" else 2
                return
            if task.state == ASSIGNED:   # ... whose kojid opens it
                task.state, task.start_ts = OPEN, time.time()
                return
        if task.method == "build":
            self._step_build(task)
        elif task.method == "waitrepo":
            with self.lock:
                self._finish(task, True, result=self._repo_info(self._current_repo(task.request[0])))
        elif task.method == "rebuildSRPM":
            self._run_srpm(task, scm=False)
        elif task.method == "buildSRPMFromSCM":
            self._run_srpm(task, scm=True)
        elif task.method == "buildArch":
            self._run_build_arch(task)
        elif task.method == "tagBuild":
            with self.lock:
                tag = self.tags[task.request[0]]
                self.event += 1
                tag.tagged.append((task.request[1], self.event))
                tag.last_change = self.event
                self._finish(task, True)

    def _child(self, parent: Task, method: str, request: list[Any], label: str | None) -> Task:
        kid = self._new_task(method, request, "noarch", parent.owner, parent.id, label=label)
        kid.awaited = True
        parent.waiting = True
        return kid

    def _step_build(self, task: Task) -> None:
        with self.lock:
            src, target, opts = task.request[0], task.request[1], task.request[2] or {}
            scratch = bool(opts.get("scratch"))
            scm = "://" in src
            kids = {t.method: t for t in self.tasks.values() if t.parent == task.id}
            phase = task.data.get("phase")
            if phase is None:
                if target not in self.targets:
                    raise HubFault(GENERIC, f"No such build target: {target}")
                if not scm:
                    if not self._upload_path(os.path.dirname(src), os.path.basename(src)).is_file():
                        raise HubFault(GENERIC, f"No such file: work/{src} (not uploaded, or already used)")
                    owner = next(u for u, i in self.users.items() if i == task.owner)
                    if not scratch and self.srpm_policy != "allow" and owner not in self.admins:
                        raise HubFault(ACTION_NOT_ALLOWED, "policy violation (build_from_srpm)")
                build_tag, _ = self.targets[target]
                self._child(task, "waitrepo", [build_tag, None, None], None)
                task.data["phase"] = "waitrepo"
                return
            if phase == "waitrepo":
                if kids["waitrepo"].state != CLOSED:
                    return
                build_tag, _ = self.targets[target]
                method = "buildSRPMFromSCM" if scm else "rebuildSRPM"
                self._child(task, method, [src, build_tag, {"repo_id": self._current_repo(build_tag).id}], "srpm")
                task.data["phase"] = "srpm"
                return
            srpm_task = kids.get("buildSRPMFromSCM") or kids["rebuildSRPM"]
            if phase == "srpm":
                if srpm_task.state in (FREE, ASSIGNED, OPEN):
                    return
                if srpm_task.state != CLOSED:
                    assert srpm_task.fault is not None
                    raise srpm_task.fault
                name, version, release = srpm_task.data["nvr"]
                build_tag, dest = self.targets[target]
                if not scratch:
                    if not self._in_package_list(self.tags[dest], name):
                        raise HubFault(BUILD_ERROR, f"package {name} not in list for tag {self.tags[dest].name}")
                    nvr = f"{name}-{version}-{release}"
                    if any(b.nvr == nvr for b in self.builds.values()):
                        raise HubFault(GENERIC, f"Build already exists: {nvr}")
                self._child(task, "buildArch", [srpm_task.result["srpm"], build_tag, "noarch", True, {}], "noarch")
                task.data["phase"] = "arch"
                return
            arch = kids["buildArch"]
            if phase == "arch":
                if arch.state in (FREE, ASSIGNED, OPEN):
                    return
                if arch.state != CLOSED:
                    assert arch.fault is not None
                    raise arch.fault
                if scratch:
                    self._finish(task, True, result=None)
                    return
                name, version, release = arch.data["nvr"]
                build = Build(self._next("build"), name, version, release, task_id=task.id, state=BUILD_COMPLETE,
                              provides=arch.data["provides"])
                self.builds[build.id] = build
                _, dest = self.targets[target]
                self._child(task, "tagBuild", [dest, build.id, False, None, True], None)
                task.data["phase"] = "tag"
                return
            tag_task = kids["tagBuild"]
            if tag_task.state == CLOSED:
                self._finish(task, True, result=None)   # a closed build's result is None
            elif tag_task.state in (FAILED, CANCELED):
                assert tag_task.fault is not None
                raise tag_task.fault

    def _macros(self, build_tag: int) -> list[str]:
        name = self.tags[build_tag].name
        m = re.match(r"f(\d+)", name)
        macros = {"dist": f".fc{m.group(1)}", "fedora": m.group(1)} if m else {}
        return [arg for k, v in macros.items() for arg in ("--define", f"{k} {v}")]

    def _write_logs(self, out: Path, names: tuple[str, ...], texts: dict[str, str]) -> list[str]:
        for n in names:
            (out / n).write_text(texts.get(n, "{}\n" if n.endswith(".json") else ""))
        return [f"{taskrelpath(int(out.name))}/{n}" for n in names]

    def _read_nvr(self, path: Path) -> tuple[str, str, str, list[str]]:
        import rpm  # the host's rpm bindings

        ts = rpm.TransactionSet()
        ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
        with open(path, "rb") as fh:
            hdr = ts.hdrFromFdno(fh.fileno())
        brs = [str(r) for r in hdr["requirename"] if not str(r).startswith("rpmlib(")]
        return str(hdr["name"]), str(hdr["version"]), str(hdr["release"]), brs

    def _run_srpm(self, task: Task, *, scm: bool) -> None:
        """rebuildSRPM (an uploaded SRPM, rebuilt in the buildroot) or buildSRPMFromSCM (git clone at
        the commit, sources from the lookaside by hash, rpmbuild -bs)."""
        src, build_tag = task.request[0], task.request[1]
        out = self._task_dir(task.id)
        out.mkdir(parents=True, exist_ok=True)
        top = Path(tempfile.mkdtemp(prefix=f"srpm-{task.id}-", dir=self.workdir))
        logs: dict[str, str] = {}
        names: tuple[str, ...] = ("build.log", "root.log", "state.log", "mock_output.log", "mock_config.log",
                                  "hw_info.log", "installed_pkgs.log")
        try:
            if scm:
                names = ("checkout.log", *names)
                try:
                    spec = self._checkout(src, top / "checkout", logs)
                except HubFault:
                    self._write_logs(out, names, logs)
                    raise
                argv = ["rpmbuild", "-bs", "--nodeps", "--define", f"_topdir {top}", "--define",
                        f"_sourcedir {spec.parent}", *self._macros(build_tag), str(spec)]
            else:
                upload = self._upload_path(os.path.dirname(src), os.path.basename(src))
                argv = ["rpmbuild", "-rs", "--nodeps", "--define", f"_topdir {top}", *self._macros(build_tag),
                        str(upload)]
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
            logs["build.log"] = proc.stdout
            built = sorted((top / "SRPMS").glob("*.src.rpm"))
            if proc.returncode != 0 or len(built) != 1:
                self._write_logs(out, names, logs)
                raise HubFault(BUILD_ERROR, "mock exited with status 1; see build.log or root.log for more information")
            shutil.copy2(built[0], out / built[0].name)
            name, version, release, _ = self._read_nvr(out / built[0].name)
            log_paths = self._write_logs(out, names, logs)
            with self.lock:
                task.data["nvr"] = (name, version, release)
                source = {"source": src, "url": src}
                self._finish(task, True, result={"srpm": f"{taskrelpath(task.id)}/{built[0].name}", "logs": log_paths,
                                                 "brootid": self._next("broot"), "source": source})
        finally:
            shutil.rmtree(top, ignore_errors=True)

    def _checkout(self, src: str, dest: Path, logs: dict[str, str]) -> Path:
        """kojid's SCM checkout plus `fedpkg sources`: clone, check out the commit, fetch every file
        in `sources` from the lookaside by its hash and verify it; return the spec."""
        url = src[4:] if src.startswith("git+") else src
        repo_url, _, commit = url.partition("#")
        if not commit:
            raise HubFault(GENERIC, f"No commit in SCM URL {src} (git+URL#commit)")
        log: list[str] = []
        for argv in (["git", "clone", "-q", "-n", repo_url, str(dest)], ["git", "-C", str(dest), "reset", "-q",
                                                                         "--hard", commit]):
            proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
            log.append("$ " + " ".join(argv) + "\n" + proc.stdout)
            if proc.returncode != 0:
                logs["checkout.log"] = "\n".join(log)
                raise HubFault(BUILD_ERROR, f'Error running GIT command "{" ".join(argv[:3])}", '
                                            "see checkout.log for details")
        module = Path(urllib.parse.urlsplit(repo_url).path).name.removesuffix(".git")
        sources = dest / "sources"
        for line in (sources.read_text().splitlines() if sources.exists() else []):
            m = re.match(r"^SHA512 \((.+)\) = ([0-9a-f]{128})$", line.strip())
            if not m:
                continue
            fname, digest = m.groups()
            lurl = f"{self.lookaside}/rpms/{module}/{fname}/sha512/{digest}/{fname}"
            try:
                with urllib.request.urlopen(lurl, timeout=10) as resp:
                    data = resp.read()
            except OSError as exc:
                log.append(f"Downloading {fname} from {lurl} failed: {exc}")
                logs["checkout.log"] = "\n".join(log)
                raise HubFault(BUILD_ERROR, 'Error running command "fedpkg sources", see checkout.log for details'
                               ) from None
            if hashlib.sha512(data).hexdigest() != digest:
                log.append(f"{fname}: SHA512 mismatch")
                logs["checkout.log"] = "\n".join(log)
                raise HubFault(BUILD_ERROR, 'Error running command "fedpkg sources", see checkout.log for details')
            (dest / fname).write_bytes(data)
            log.append(f"Downloading {fname}: ok ({len(data)} bytes)")
        logs["checkout.log"] = "\n".join(log) + "\n"
        specs = sorted(dest.glob("*.spec"))
        if len(specs) != 1:
            raise HubFault(BUILD_ERROR, f"Expected one spec file in the checkout of {src}, found {len(specs)}")
        return specs[0]

    def _run_build_arch(self, task: Task) -> None:
        """Really rebuild the SRPM (rpmbuild --rebuild), with a BuildRequires check against the repo."""
        with self.lock:
            src = self.workdir / task.request[0]
            repo = self._current_repo(task.request[1])
        out = self._task_dir(task.id)
        out.mkdir(parents=True, exist_ok=True)
        name, version, release, brs = self._read_nvr(src)
        installed = sorted(repo.provides | self.base_provides)
        missing = [r for r in brs if r not in repo.provides and r not in self.base_provides]
        root_log = [f"DEBUG util.py: repo {repo.id} (event {repo.create_event}) for tag {task.request[1]}"]
        root_log += [f"DEBUG util.py: installed: {p}" for p in installed]
        if missing:
            root_log += [f"DEBUG util.py: No matching package to install: '{m}'" for m in missing]
            root_log.append("DEBUG util.py: Child return code was: 30")
            self._write_logs(out, BUILD_ARCH_LOGS, {
                "root.log": "\n".join(root_log) + "\n",
                "state.log": "Start: installing buildroot\nFinish: installing buildroot (failed)\n",
                "mock_output.log": "ERROR: Command failed: dnf install ...\n"})
            raise HubFault(BUILD_ERROR, "mock exited with status 30; see root.log for more information")
        top = self.workdir / "rpmbuild" / str(task.id)
        proc = subprocess.run(
            ["rpmbuild", "--rebuild", "--nodeps", "--define", f"_topdir {top}", *self._macros(task.request[1]),
             str(src)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        )
        texts = {"root.log": "\n".join(root_log) + "\n", "build.log": proc.stdout,
                 "state.log": "Start: rpmbuild\nFinish: rpmbuild\n",
                 "installed_pkgs.log": "\n".join(installed) + "\n", "hw_info.log": "CPU info: fake\n"}
        if proc.returncode != 0:
            self._write_logs(out, BUILD_ARCH_LOGS, texts)
            raise HubFault(BUILD_ERROR, "mock exited with status 1; see build.log or root.log for more information")
        import rpm

        ts = rpm.TransactionSet()
        ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
        provides: set[str] = set()
        rpms = []
        for path in sorted((top / "RPMS").rglob("*.rpm")):
            shutil.copy2(path, out / path.name)
            rpms.append(f"{taskrelpath(task.id)}/{path.name}")
            with open(path, "rb") as fh:
                provides |= {str(p) for p in ts.hdrFromFdno(fh.fileno())["providename"]}
        shutil.copy2(src, out / src.name)
        log_paths = self._write_logs(out, BUILD_ARCH_LOGS, texts)
        with self.lock:
            task.data.update(nvr=(name, version, release), provides=provides)
            self._finish(task, True, result={"rpms": rpms, "srpms": [f"{taskrelpath(task.id)}/{src.name}"],
                                             "logs": log_paths, "brootid": self._next("broot")})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 60  # per connection: a client that stops talking frees its thread

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_POST(self) -> None:
        hub = self.server.hub
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        hub.transport_log.append(f"POST {self.path} " + " ".join(f"{k}={v}" for k, v in headers.items()))
        if url.path not in ("/kojihub", "/kojihub/ssllogin"):
            self._send(404, b"not found", "text/plain")
            return
        upload = headers.get("content-type") == "application/octet-stream"
        method: str = "rawUpload"
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        if not upload:
            params, called = xmlrpc.client.loads(body, use_builtin_types=True)
            method = called or ""
            args = list(params)
            if args and isinstance(args[-1], dict) and args[-1].get("__starstar"):
                last: dict[str, Any] = args.pop()
                kwargs = {k: v for k, v in last.items() if k != "__starstar"}
        injected = hub.take_injection(method)
        if injected == "http503":
            self._send(503, b"Service Unavailable", "text/plain")
            return
        if injected == "reset":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        if injected == "lost-reply":  # the hub runs the call, the reply never arrives
            with contextlib.suppress(HubFault):
                hub.call(method, args, kwargs, hub.authenticate(headers, method))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        try:
            if injected == "offline" or hub.offline:
                raise HubFault(OFFLINE, "database outage")
            if method == "sslLogin":
                if url.path != "/kojihub/ssllogin":
                    raise HubFault(AUTH, "sslLogin must be called on /ssllogin")
                result: Any = hub.ssl_login(self._cert_user(), kwargs)
            else:
                sess = hub.authenticate(headers, method)
                if upload:
                    query = dict(urllib.parse.parse_qsl(url.query))
                    result = hub.raw_upload(sess, query, body)
                else:
                    result = hub.call(method, args, kwargs, sess)
            payload = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
        except HubFault as f:
            payload = xmlrpc.client.dumps(xmlrpc.client.Fault(f.code, f.message), allow_none=True)
        except Exception as exc:  # the hub turns any other error into a GenericError fault
            payload = xmlrpc.client.dumps(xmlrpc.client.Fault(GENERIC, f"{type(exc).__name__}: {exc}"),
                                          allow_none=True)
        self._send(200, payload.encode("utf-8"), "text/xml")

    def _cert_user(self) -> str | None:
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        if not cert:
            return None
        subject: Any = cert.get("subject", ())
        for rdn in subject:
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Koji-Version", KOJI_VERSION)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    """Accepts on a plain socket with a short timeout and leaves the TLS handshake to the request's
    own thread (ssl's wrapped accept() would do it on the serving thread), so that one stalled client
    cannot stop the hub from serving the others, nor shutdown() from returning."""

    daemon_threads = True
    hub: FakeHub
    tls: ssl.SSLContext

    def server_activate(self) -> None:
        super().server_activate()
        self.socket.settimeout(1.0)

    def get_request(self) -> tuple[Any, Any]:
        conn, addr = self.socket.accept()
        return self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:  # a client that went away: quiet
        return


@dataclass
class RunningHub:
    hub: FakeHub
    url: str
    server: _Server
    thread: threading.Thread

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.hub.stop()


def serve(hub: FakeHub, *, certfile: Path, keyfile: Path, cafile: Path) -> RunningHub:
    """Serve ``hub`` over HTTPS on 127.0.0.1 (a free port); client certificates are checked against cafile."""
    server = _Server(("127.0.0.1", 0), _Handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    ctx.load_verify_locations(cafile)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    server.tls = ctx
    server.hub = hub
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hub.start()
    port = server.server_address[1]
    return RunningHub(hub, f"https://127.0.0.1:{port}/kojihub", server, thread)
