"""Link a module with a distribution's base policy into a kernel policy file for analysis.

sesearch/setools need a whole policy, not a module. The distribution's policy
package ships its base and modules as .pp(.bz2) files (Debian's
selinux-policy-default: /usr/share/selinux/default/; Fedora's
selinux-policy-targeted: /usr/share/selinux/packages/targeted/). They are linked
with ours by semodule_link and expanded by semodule_expand; no policy store, no
root and no SELinux-enabled kernel are needed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import CommandError, run
from tooling.selinux.cil import decompressed

POLICY_DIR_ENV = "FORKLIFT_SELINUX_POLICY_DIR"
POLICY_DIRS = (
    Path("/usr/share/selinux/default"),
    Path("/usr/share/selinux/packages/targeted"),
    Path("/usr/share/selinux/targeted"),
    Path("/usr/share/selinux/refpolicy"),
)


def _module_name(path: Path) -> str:
    return path.name.removesuffix(".bz2").removesuffix(".pp")


def find_policy_dir() -> Path:
    """The directory with the base policy (base.pp[.bz2]) and its modules."""
    env = os.environ.get(POLICY_DIR_ENV)
    candidates = (Path(env),) if env else POLICY_DIRS
    for directory in candidates:
        if any((directory / name).is_file() for name in ("base.pp", "base.pp.bz2")):
            return directory
    where = f"${POLICY_DIR_ENV}={env}" if env else ", ".join(str(d) for d in POLICY_DIRS)
    raise ForkliftError(
        f"no base policy to link the module against (looked for base.pp[.bz2] in {where})",
        hint=f"install selinux-policy-default (Debian) or selinux-policy-targeted (Fedora), or set {POLICY_DIR_ENV}",
    )


def plan_link(policy_dir_files: Sequence[Path], modules: Sequence[Path]) -> list[Path]:
    """Order of semodule_link inputs: base first, the distribution's modules, then ours (pure).

    A distribution module with the name of one of ours is left out (ours replaces it).
    """
    ours = {_module_name(m) for m in modules}
    pps = [p for p in policy_dir_files if p.name.endswith((".pp", ".pp.bz2"))]
    base = [p for p in pps if _module_name(p) == "base"]
    if not base:
        raise ForkliftError("no base.pp among the policy files", hint="point at a policy package's module directory")
    rest = sorted((p for p in pps if _module_name(p) not in ours | {"base"}), key=lambda p: p.name)
    return [base[0], *rest, *modules]


def link_policy(modules: Sequence[Path], *, out: Path, workdir: Path, policy_dir: Path | None = None) -> Path:
    """Link ``modules`` with the base policy and write the expanded kernel policy to ``out``."""
    for tool in ("semodule_link", "semodule_expand"):
        if shutil.which(tool) is None:
            raise ForkliftError(f"{tool} is not installed", hint="install semodule-utils (Debian) or policycoreutils (Fedora)")
    policy_dir = policy_dir or find_policy_dir()
    inputs = plan_link(sorted(policy_dir.iterdir()), modules)
    plain_dir = workdir / "pp"
    plain = [decompressed(p, plain_dir) for p in inputs]
    linked = workdir / "linked.lnk"
    try:
        run(["semodule_link", "-o", linked, *plain], log=workdir / "link.log")
    except CommandError as exc:
        problems = [ln.strip() for ln in exc.output.splitlines() if "semodule_link:  loading" not in ln]
        raise ForkliftError(
            f"linking {', '.join(m.name for m in modules)} with the base policy in {policy_dir} failed:\n"
            + "\n".join(f"  | {ln}" for ln in problems[-15:]),
            hint="a require outside optional_policy names a type/class the policy lacks: move it into optional_policy",
        ) from None
    tmp = out.with_name(f".{out.name}.tmp")
    run(["semodule_expand", linked, tmp], log=workdir / "link.log")
    os.replace(tmp, out)
    return out
