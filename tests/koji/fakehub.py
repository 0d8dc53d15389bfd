"""A small koji hub for tests, faithful to the wire protocol the koji client speaks.

It listens on 127.0.0.1 over HTTPS (the koji client forces https for ssl and
gssapi logins) and implements, independently of the koji library:

- XML-RPC over POST to /kojihub; keyword arguments in a final struct that
  carries ``__starstar: True``; faults with koji's fault codes over HTTP 200;
- sslLogin on /kojihub/ssllogin from the TLS client certificate's CN, replying
  {session-id, session-key, header-auth}; the Koji-Session-Id / -Key / -Callnum
  headers checked on every later call (a replayed callnum is a RetryError, a
  lower one a SequenceError, a bad key an AuthError);
- rawUpload (octet-stream POST with filename/filepath/offset/fileverify in the
  query) replying {size, hexdigest} (adler32), and checkUpload;
- multiCall ([{methodName, params}] -> [[result] | {faultCode, faultString}]);
- build tasks that move FREE -> OPEN -> CLOSED/FAILED with buildArch and
  tagBuild children, whose buildArch really runs ``rpmbuild --rebuild`` on the
  uploaded SRPM, checks its BuildRequires against the build tag's current repo
  (root.log says "No matching package to install" otherwise) and keeps
  build.log/root.log/state.log and the RPMs as task output;
- tags with inheritance, events, repo requests (repo.request / repo.checkRequest)
  regenerated a few ticks after they are made, tagBuild tasks.

Tests steer it with ``inject()`` (HTTP 503, connection reset, ServerOffline),
``expire_after`` (AuthExpired), ``blocked_users`` and ``permissions``.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import ssl
import subprocess
import threading
import time
import urllib.parse
import xmlrpc.client
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

FREE, OPEN, CLOSED, CANCELED, ASSIGNED, FAILED = range(6)
BUILD_BUILDING, BUILD_COMPLETE, BUILD_FAILED = 0, 1, 3

GENERIC, AUTH, ACTION_NOT_ALLOWED, BUILD_ERROR = 1000, 1002, 1004, 1005
AUTH_EXPIRED, SEQUENCE, RETRY, BUILDROOT, OFFLINE, PARAMETER = 1007, 1008, 1009, 1012, 1014, 1019

READ_ONLY_PREFIXES = ("get", "list", "check", "repo.check", "tagLastChangeEvent", "downloadTaskOutput")


class HubFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Task:
    id: int
    method: str
    request: list[Any]
    arch: str
    owner: int
    parent: int | None = None
    state: int = FREE
    host_id: int | None = None
    result: Any = None
    fault: HubFault | None = None
    create_ts: float = field(default_factory=time.time)
    start_ts: float | None = None
    completion_ts: float | None = None
    ticks: int = 0
    data: dict[str, Any] = field(default_factory=dict)

    def info(self, request: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "method": self.method, "arch": self.arch, "state": self.state,
            "owner": self.owner, "parent": self.parent, "host_id": self.host_id, "channel_id": 1,
            "priority": 20, "weight": 1.0, "label": None, "waiting": None, "awaited": None,
            "create_ts": self.create_ts, "start_ts": self.start_ts, "completion_ts": self.completion_ts,
            "create_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.create_ts)),
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
    # (build id, event it was tagged at, event it was untagged at or None)
    tagged: list[tuple[int, int]] = field(default_factory=list)
    last_change: int = 1


@dataclass
class Repo:
    id: int
    tag_id: int
    create_event: int
    provides: frozenset[str]


class FakeHub:
    """State and behaviour; the HTTP layer is _Handler below."""

    def __init__(self, workdir: Path, *, tick: float = 0.03, users: tuple[str, ...] = ("alice",)) -> None:
        self.workdir = workdir
        self.tick = tick
        self.lock = threading.RLock()
        self.users = {name: i + 1 for i, name in enumerate(users)}
        self.permissions: dict[str, set[str]] = {name: {"build", "tag"} for name in users}
        self.blocked_users: set[str] = set()
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
        self._ids = {"task": 100, "build": 0, "tag": 0, "repo": 0, "req": 0, "session": 0}
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
            callnum = int(headers.get("koji-session-callnum", "-1"))
            last = sess["callnum"]
            if last is not None and callnum < last:
                raise HubFault(SEQUENCE, f"{last} > {callnum} (session {sid})")
            if last is not None and callnum == last and not method.startswith(READ_ONLY_PREFIXES):
                raise HubFault(RETRY, f"unable to retry call {callnum} (method {method}) for session {sid}")
            sess["callnum"] = callnum
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
            self.sessions[sid] = {"user": user, "key": key, "callnum": None, "calls": 0, "expired": False}
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

    # ------------------------------------------------------------ hub methods
    def m_logout(self, sess: dict[str, Any] | None, session_id: int | None = None) -> None:
        return None

    def m_getLoggedInUser(self, sess: dict[str, Any] | None) -> dict[str, Any] | None:
        if sess is None:
            return None
        return {"id": self.users[sess["user"]], "name": sess["user"]}

    def m_getKojiVersion(self, sess: dict[str, Any] | None) -> str:
        return "1.36.0"

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
        return {"id": tag.id, "name": tag.name, "arches": "x86_64", "locked": False, "perm": None,
                "perm_id": None, "maven_support": False, "extra": {}}

    def m_tagLastChangeEvent(self, sess: dict[str, Any] | None, tag: Any) -> int:
        t = self._tag(tag)
        assert t is not None
        return max([t.last_change] + [self.tags[p].last_change for p in t.parents])

    def _tag_chain(self, tag: Tag) -> list[Tag]:
        out = [tag]
        for p in tag.parents:
            out.extend(self._tag_chain(self.tags[p]))
        return out

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
            raise HubFault(GENERIC, f"No such build: {buildInfo}")
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
        mode = "r+b" if target.exists() and offset > 0 else "wb"
        with open(target, mode) as fh:
            fh.seek(offset)
            fh.write(data)
        if query.get("fileverify", "adler32") != "adler32":
            raise HubFault(GENERIC, f"unsupported checksum type {query['fileverify']}")
        self.calls.append(("rawUpload", (query["filepath"], query["filename"], offset, len(data)), {}))
        return {"size": len(data), "hexdigest": "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)}

    def m_checkUpload(self, sess: dict[str, Any] | None, path: str, name: str, verify: str | None = None,
                      tail: Any = None, volume: Any = None) -> dict[str, Any] | None:
        self._user(sess)
        target = self._upload_path(path, name)
        if not target.exists():
            return None
        data = target.read_bytes()
        out: dict[str, Any] = {"size": str(len(data)), "mtime": int(target.stat().st_mtime)}
        if verify == "adler32":
            out["hexdigest"] = "%08x" % (zlib.adler32(data) & 0xFFFFFFFF)
        return out

    # builds and tasks
    def _new_task(self, method: str, request: list[Any], arch: str, owner: int, parent: int | None = None) -> Task:
        task = Task(self._next("task"), method, request, arch, owner, parent)
        self.tasks[task.id] = task
        return task

    def m_build(self, sess: dict[str, Any] | None, src: str, target: str, opts: dict[str, Any] | None = None,
                priority: int | None = None, channel: str | None = None) -> int:
        user = self._user(sess)
        if "build" not in self.permissions.get(user, set()):
            raise HubFault(ACTION_NOT_ALLOWED, "build permission required")
        if target not in self.targets:
            raise HubFault(GENERIC, f"No such build target: {target}")
        srpm = self._upload_path(os.path.dirname(src), os.path.basename(src))
        if not srpm.exists():
            raise HubFault(GENERIC, f"No such file: {src}")
        task = self._new_task("build", [src, target, opts or {}], "noarch", self.users[user])
        return task.id

    def m_tagBuild(self, sess: dict[str, Any] | None, tag: Any, build: Any, force: bool = False,
                   fromtag: Any = None) -> int:
        user = self._user(sess)
        if "tag" not in self.permissions.get(user, set()):
            raise HubFault(ACTION_NOT_ALLOWED, "policy violation (tag)")
        t = self._tag(tag)
        b = self.m_getBuild(sess, build, strict=True)
        assert t is not None and b is not None
        task = self._new_task("tagBuild", [t.id, b["id"], force, None, False], "noarch", self.users[user])
        return task.id

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
        return [t.info(request) for t in self.tasks.values() if t.parent == task_id]

    def m_getTaskResult(self, sess: dict[str, Any] | None, taskId: int, raise_fault: bool = True) -> Any:
        task = self.tasks[taskId]
        if task.state == FAILED and task.fault is not None:
            raise task.fault
        if task.state != CLOSED:
            raise HubFault(GENERIC, f"Task {taskId} is not finished")
        return task.result

    def _task_dir(self, task_id: int) -> Path:
        return self.workdir / "tasks" / str(task_id)

    def m_listTaskOutput(self, sess: dict[str, Any] | None, taskID: int, stat: bool = False,
                         all_volumes: bool = False, strict: bool = False) -> Any:
        d = self._task_dir(taskID)
        names = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
        if not stat and not all_volumes:
            return names
        out: dict[str, Any] = {}
        for n in names:
            st = (d / n).stat()
            info = {"st_size": str(st.st_size), "st_atime": str(st.st_atime), "st_mtime": str(st.st_mtime),
                    "st_ctime": str(st.st_ctime)}
            if all_volumes:
                out[n] = {"DEFAULT": info} if stat else ["DEFAULT"]
            else:
                out[n] = info
        return out

    def m_downloadTaskOutput(self, sess: dict[str, Any] | None, taskID: int, fileName: str, offset: int = 0,
                             size: int = -1, volume: Any = None) -> str:
        path = self._task_dir(taskID) / fileName
        if "/" in fileName or not path.is_file():
            raise HubFault(GENERIC, f"no file {fileName} output by task {taskID}")
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
        req = self.requests[req_id]
        repo = next((r for r in self.repos if r.id == req["repo_id"]), None)
        return {"request": {k: v for k, v in req.items() if k != "ticks"},
                "repo": self._repo_info(repo) if repo else None}

    # ------------------------------------------------------------ the scheduler (kojid + kojira)
    def _run_scheduler(self) -> None:
        while not self._stop.wait(self.tick):
            with self.lock:
                tasks = [t for t in self.tasks.values() if t.state in (FREE, OPEN)]
                requests = [r for r in self.requests.values() if r["active"]]
            for task in tasks:
                self._step(task)
            for req in requests:
                self._step_request(req)

    def _step_request(self, req: dict[str, Any]) -> None:
        with self.lock:
            req["ticks"] += 1
            if req["ticks"] < 4:   # kojira takes a while
                return
            tag = self.tags[req["tag_id"]]
            self.event += 1
            provides: set[str] = set()
            for build, _ in self._tagged_builds(tag, None, inherit=True):
                provides |= build.provides
            repo = Repo(self._next("repo"), tag.id, self.event, frozenset(provides))
            self.repos.append(repo)
            req.update(active=False, repo_id=repo.id)

    def _open(self, task: Task, host: int) -> None:
        task.state, task.host_id, task.start_ts = OPEN, host, time.time()

    def _finish(self, task: Task, ok: bool, fault: HubFault | None = None, result: Any = None) -> None:
        task.state = CLOSED if ok else FAILED
        task.fault, task.result, task.completion_ts = fault, result, time.time()

    def _step(self, task: Task) -> None:
        task.ticks += 1
        if task.state == FREE:
            with self.lock:
                self._open(task, 1 if task.method != "buildArch" else 2)
            return
        if task.method == "build":
            self._step_build(task)
        elif task.method == "buildArch":
            self._run_build_arch(task)
        elif task.method == "tagBuild":
            with self.lock:
                tag = self.tags[task.request[0]]
                self.event += 1
                tag.tagged.append((task.request[1], self.event))
                tag.last_change = self.event
                self._finish(task, True)

    def _step_build(self, task: Task) -> None:
        with self.lock:
            kids = [t for t in self.tasks.values() if t.parent == task.id]
            if not kids:
                build_tag, _ = self.targets[task.request[1]]
                self._new_task("buildArch", [task.request[0], build_tag, "noarch", True, {}], "noarch",
                               task.owner, task.id)
                return
            arch = next(t for t in kids if t.method == "buildArch")
            if arch.state in (FREE, OPEN):
                return
            if arch.state == FAILED:
                for k in kids:
                    if k.state in (FREE, OPEN):
                        self._finish(k, False)
                        k.state = CANCELED
                assert arch.fault is not None
                self._finish(task, False, arch.fault)
                return
            scratch = bool(task.request[2].get("scratch"))
            if scratch:
                self._finish(task, True, result={"task_id": task.id})
                return
            tag_kids = [t for t in kids if t.method == "tagBuild"]
            if not tag_kids:
                name, version, release = arch.data["nvr"]
                build = Build(self._next("build"), name, version, release, task_id=task.id, state=BUILD_COMPLETE,
                              provides=arch.data["provides"])
                if any(b.nvr == build.nvr for b in self.builds.values()):
                    self._finish(task, False, HubFault(GENERIC, f"Build already exists: {build.nvr}"))
                    return
                self.builds[build.id] = build
                _, dest = self.targets[task.request[1]]
                self._new_task("tagBuild", [dest, build.id, False, None, True], "noarch", task.owner, task.id)
                return
            if all(t.state == CLOSED for t in tag_kids):
                self._finish(task, True, result={"task_id": task.id})

    def _run_build_arch(self, task: Task) -> None:
        """Really rebuild the SRPM (rpmbuild --rebuild), with a BuildRequires check against the repo."""
        import rpm  # the host's rpm bindings

        with self.lock:
            src = self._upload_path(os.path.dirname(task.request[0]), os.path.basename(task.request[0]))
            repo = self._current_repo(task.request[1])
        out = self._task_dir(task.id)
        out.mkdir(parents=True, exist_ok=True)
        ts = rpm.TransactionSet()
        ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
        with open(src, "rb") as fh:
            hdr = ts.hdrFromFdno(fh.fileno())
        name, version, release = str(hdr["name"]), str(hdr["version"]), str(hdr["release"])
        brs = [str(r) for r in hdr["requirename"] if not str(r).startswith("rpmlib(")]
        installed = sorted(repo.provides | self.base_provides)
        missing = [r for r in brs if r not in repo.provides and r not in self.base_provides]
        root_log = [f"DEBUG util.py: repo {repo.id} (event {repo.create_event}) for tag {task.request[1]}"]
        root_log += [f"DEBUG util.py: installed: {p}" for p in installed]
        if missing:
            root_log += [f"DEBUG util.py: No matching package to install: '{m}'" for m in missing]
            root_log.append("DEBUG util.py: Child return code was: 30")
            (out / "root.log").write_text("\n".join(root_log) + "\n")
            (out / "state.log").write_text("Start: installing buildroot\nFinish: installing buildroot (failed)\n")
            with self.lock:
                self._finish(task, False, HubFault(
                    BUILDROOT, "could not init mock buildroot, mock exited with status 30; "
                               "see root.log for more information"))
            return
        (out / "root.log").write_text("\n".join(root_log) + "\n")
        top = self.workdir / "rpmbuild" / str(task.id)
        proc = subprocess.run(
            ["rpmbuild", "--rebuild", "--nodeps", "--define", f"_topdir {top}", str(src)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
        )
        (out / "build.log").write_text(proc.stdout)
        (out / "state.log").write_text("Start: rpmbuild\nFinish: rpmbuild\n")
        if proc.returncode != 0:
            with self.lock:
                self._finish(task, False, HubFault(
                    BUILD_ERROR, "error building package (arch noarch), mock exited with status 1; "
                                 "see build.log for more information"))
            return
        provides: set[str] = set()
        rpms = []
        for path in sorted((top / "RPMS").rglob("*.rpm")):
            shutil.copy2(path, out / path.name)
            rpms.append(path.name)
            with open(path, "rb") as fh:
                provides |= {str(p) for p in ts.hdrFromFdno(fh.fileno())["providename"]}
        shutil.copy2(src, out / src.name)
        with self.lock:
            task.data.update(nvr=(name, version, release), provides=provides)
            self._finish(task, True, result={"rpms": rpms, "srpms": [src.name], "logs": ["build.log", "root.log"]})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

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
            if injected == "offline":
                raise HubFault(OFFLINE, "server is offline")
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
        self.send_header("Koji-Version", "1.36.0")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: FakeHub


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
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.hub = hub
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    hub.start()
    port = server.server_address[1]
    return RunningHub(hub, f"https://127.0.0.1:{port}/kojihub", server, thread)
