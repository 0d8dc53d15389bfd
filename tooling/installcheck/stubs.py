"""Stub spec texts (pure functions): packages with the real relations and no payload.

- :func:`base_stub_spec`: one entry of the target base (what the distro ships).
- :func:`stub_from_expanded`: a Forklift spec as ``rpmspec -P`` expanded it for one target,
  cut down to its package headers: every Name/Version/Release, every dependency tag of
  every (sub)package, each %description and an empty %files. %prep, %build, %install,
  %check and the changelog go; scriptlets stay as headers with a no-op body, so rpm still
  records their interpreter requirement. dnf then resolves exactly the relations the real
  packages carry, without building them.
"""

from __future__ import annotations

import re

from tooling.installcheck.base import BasePackage

# preamble tags a stub keeps: identity and every relation dnf resolves on
_KEEP_TAG = re.compile(
    r"^(Name|Epoch|Version|Release|Summary|License|URL|BuildArch|"
    r"Requires(\([^)]*\))?|Provides|Conflicts|Obsoletes|Recommends|Suggests|Supplements|Enhances|"
    r"OrderWithRequires)\s*:",
    re.IGNORECASE,
)
_SCRIPTLETS = ("pre", "post", "preun", "postun", "pretrans", "posttrans", "preuntrans", "postuntrans", "verifyscript")
_DROP = ("prep", "build", "install", "check", "clean", "changelog", "generate_buildrequires", "conf",
         "sourcelist", "patchlist")
_TRIGGER = re.compile(r"^%(trigger|filetrigger|transfiletrigger)\w*\b")
_SECTION = re.compile(r"^%(?P<name>[a-z_]+)\b(?P<args>.*)$")
STUB_HEADER = """\
# stub: the relations of the real package, no payload (tooling/installcheck)
%global debug_package %{nil}
%global _build_id_links none
%global __os_install_post %{nil}
"""


def _section_kind(line: str) -> str | None:
    """'package', 'description', 'files', 'scriptlet', 'drop', 'trigger', or None for a body line."""
    if _TRIGGER.match(line):
        return "trigger"
    m = _SECTION.match(line)
    if not m:
        return None
    name = m["name"]
    if name in ("package", "description", "files"):
        return name
    if name in _SCRIPTLETS:
        return "scriptlet"
    if name in _DROP:
        return "drop"
    return None


def stub_from_expanded(expanded: str) -> str:
    """The stub of a spec that ``rpmspec -P`` has already expanded for one target."""
    out: list[str] = [STUB_HEADER]
    mode = "preamble"
    for raw in expanded.splitlines():
        line = raw.rstrip()
        kind = _section_kind(line)
        if kind is not None:
            mode = kind
            if kind in ("package", "description"):
                out.append(line)
            elif kind == "files":
                out.append(re.sub(r"\s-f\s+\S+", "", line))
            elif kind == "scriptlet":
                out.append(line)
                if not re.search(r"\s-p\s", line):
                    out.append(":")
            continue
        if mode in ("preamble", "package"):
            if _KEEP_TAG.match(line):
                out.append(line)
        elif mode == "description":
            out.append(line)
    text = "\n".join(out) + "\n"
    if "%description" not in text:
        text += "%description\nstub\n"
    return text


def base_stub_spec(pkg: BasePackage, dist: str) -> str:
    """The stub spec of one target-base entry: its Provides and Requires, and (rivals) its files."""
    lines = [
        STUB_HEADER,
        f"Name:           {pkg.name}",
        *([f"Epoch:          {pkg.epoch}"] if pkg.epoch is not None else []),
        f"Version:        {pkg.version}",
        f"Release:        {pkg.release}{dist}",
        f"Summary:        stand-in for the distro's {pkg.name}",
        "License:        MIT",
        *(["BuildArch:      noarch"] if pkg.noarch else []),
        *[f"Provides:       {p}" for p in pkg.provides],
        *[f"Requires:       {r}" for r in pkg.requires],
        "",
        "%description",
        f"Stand-in: {pkg.source}",
        "",
    ]
    if pkg.files:
        lines += ["%install", *[f"mkdir -p %{{buildroot}}$(dirname {f}) && : > %{{buildroot}}{f}" for f in pkg.files], ""]
    lines += ["%files", *pkg.files, ""]
    return "\n".join(lines)
