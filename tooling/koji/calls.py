"""Pure planning: the hub calls a koji build or tag would make, as data (printed by --dry-run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tooling.builds.plan import SrpmInfo
from tooling.koji.session import Profile


@dataclass(frozen=True)
class Call:
    method: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def text(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{self.method}({', '.join(parts)})" + (f"    # {self.note}" if self.note else "")


def login_call(profile: Profile) -> Call:
    """The login the profile asks for (paths only: never key material)."""
    if profile.authtype == "ssl":
        return Call("ssl_login", (), {"cert": profile.options.get("cert"), "serverca": profile.options.get("serverca")},
                    f"profile {profile.name!r} at {profile.hub}")
    return Call("gssapi_login", (), {"principal": profile.options.get("principal"),
                                     "keytab": profile.options.get("keytab")},
                f"profile {profile.name!r} at {profile.hub}")


def build_options(scratch: bool) -> dict[str, Any]:
    return {"scratch": True} if scratch else {}


def plan_build(profile: Profile, koji_target: str, layers: list[list[SrpmInfo]], *, upload_dir: str,
               scratch: bool, nowait: bool, results_dir: Path, repo_dir: Path,
               scm: dict[str, str] | None = None) -> list[Call]:
    """Every call koji_build makes, layer by layer, in order. ``scm`` (package name -> git+URL#commit)
    builds from dist-git (the hub runs buildSRPMFromSCM) instead of uploading the SRPMs."""
    calls = [login_call(profile), Call("getBuildTarget", (koji_target,), {}, "stop here if the target is unknown")]
    for n, layer in enumerate(layers, 1):
        for info in layer:
            if scm is not None:
                calls.append(Call("build", (scm[info.name], koji_target, build_options(scratch)), {"priority": None},
                                  f"layer {n}: {info.nvr} from dist-git; returns a task id"))
                continue
            remote = f"{upload_dir}/{info.path.name}"
            calls.append(Call("uploadWrapper", (str(info.path), upload_dir), {}, f"layer {n}: {info.nvr}"))
            calls.append(Call("build", (remote, koji_target, build_options(scratch)), {"priority": None},
                              "returns a task id (a lost reply: listTasks finds the task before any re-send)"))
        if nowait:
            continue
        calls.append(Call("multiCall", ("getTaskInfo(request=True)", "getTaskChildren(request=True)"), {},
                          f"every {profile.poll_interval:g} s until the layer's tasks finish"))
        for info in layer:
            calls.append(Call("downloadTaskOutput", ("<buildArch task>", "*.rpm, *.log"), {},
                              f"into {results_dir / info.name}/"))
        calls.append(Call("tooling.repo.publish", (str(repo_dir),), {}, "local repo, no hub call"))
        if n < len(layers):
            calls.append(Call("repo.request/repo.checkRequest", ("<build tag of " + koji_target + ">",),
                              {"nvrs": [i.nvr for i in layer]}, "wait for the buildroot repo"))
    calls.append(Call("logout"))
    return calls


def plan_tag(profile: Profile, tag: str, nvrs: list[str]) -> list[Call]:
    calls = [login_call(profile), Call("getTag", (tag,), {"strict": True})]
    calls += [Call("getBuild", (nvr,), {"strict": True}) for nvr in nvrs]
    calls += [Call("tagBuild", (tag, nvr), {}, "returns a task id") for nvr in nvrs]
    calls.append(Call("multiCall", ("getTaskInfo(request=True)", "getTaskChildren(request=True)"), {},
                      f"every {profile.poll_interval:g} s until the tag tasks finish"))
    calls.append(Call("logout"))
    return calls
