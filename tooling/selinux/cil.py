"""What a policy module introduces, read from its CIL (the pp -> CIL converter of libsepol's hll).

Pure functions over the CIL text, plus ``module_cil`` which runs the converter.
A module's own CIL is the place to see what *it* adds: its type declarations,
the attributes it puts its types into, permissive statements and every rule it
contains (in optional blocks too), before linking mixes it with the base policy.
"""

from __future__ import annotations

import bz2
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.run import run

PP_TO_CIL = (Path("/usr/libexec/selinux/hll/pp"), Path("/usr/lib/selinux/hll/pp"))
AV_RULES = ("allow", "auditallow", "allowx")
_TOKEN = re.compile(r'"[^"]*"|[()]|[^\s()"]+')

SExpr = str | list["SExpr"]


@dataclass(frozen=True)
class Rule:
    kind: str  # allow, typetransition, ...
    source: str
    target: str
    tclass: str
    perms: tuple[str, ...]  # for AV rules; the default type for type rules

    def __str__(self) -> str:
        return f"({self.kind} {self.source} {self.target} ({self.tclass} ({' '.join(self.perms)})))"


@dataclass(frozen=True)
class ModuleFacts:
    """What one module declares and contains."""

    types: tuple[str, ...]
    attribute_members: dict[str, tuple[str, ...]]  # attribute -> the module's additions
    permissive: tuple[str, ...]
    rules: tuple[Rule, ...]


def parse(text: str) -> list[SExpr]:
    """CIL text -> nested lists of atoms (comments dropped)."""
    stack: list[list[SExpr]] = [[]]
    for line in text.splitlines():
        code = line.split(";", 1)[0] if '"' not in line else line
        for tok in _TOKEN.findall(code):
            if tok == "(":
                new: list[SExpr] = []
                stack[-1].append(new)
                stack.append(new)
            elif tok == ")":
                if len(stack) == 1:
                    raise ValueError("unbalanced ')' in CIL")
                stack.pop()
            else:
                stack[-1].append(tok)
    if len(stack) != 1:
        raise ValueError("unbalanced '(' in CIL")
    return stack[0]


def _statements(nodes: list[SExpr]) -> Iterator[list[SExpr]]:
    """Every statement, descending into optional/block/in/booleanif branches."""
    for node in nodes:
        if not isinstance(node, list) or not node:
            continue
        head = node[0]
        if head in ("optional", "block", "in"):
            yield from _statements(node[2:])
        elif head in ("booleanif", "tunableif"):
            for branch in node[2:]:
                if isinstance(branch, list) and branch and branch[0] in ("true", "false"):
                    yield from _statements(branch[1:])
        else:
            yield node


def _atoms(node: SExpr) -> tuple[str, ...]:
    if isinstance(node, str):
        return (node,)
    out: list[str] = []
    for item in node:
        out.extend(_atoms(item))
    return tuple(out)


def facts(text: str) -> ModuleFacts:
    """Extract declarations, attribute memberships, permissive types and rules from CIL text."""
    types: list[str] = []
    members: dict[str, list[str]] = {}
    permissive: list[str] = []
    rules: list[Rule] = []
    for st in _statements(parse(text)):
        head = st[0]
        if head == "type" and len(st) == 2 and isinstance(st[1], str):
            types.append(st[1])
        elif head == "typeattributeset" and len(st) == 3 and isinstance(st[1], str):
            if st[1] == "cil_gen_require":
                continue
            members.setdefault(st[1], []).extend(_atoms(st[2]))
        elif head == "typepermissive" and len(st) == 2 and isinstance(st[1], str):
            permissive.append(st[1])
        elif head in AV_RULES and len(st) == 4:
            src, tgt, cls = st[1], st[2], st[3]
            if isinstance(src, str) and isinstance(tgt, str) and isinstance(cls, list) and cls:
                rules.append(Rule(str(head), src, tgt, str(cls[0]), _atoms(cls[1:])))
        elif head in ("typetransition", "typechange", "typemember") and len(st) >= 5:
            src, tgt, cls, dflt = st[1], st[2], st[3], st[-1]
            if all(isinstance(x, str) for x in (src, tgt, cls, dflt)):
                rules.append(Rule(str(head), str(src), str(tgt), str(cls), (str(dflt),)))
    return ModuleFacts(
        types=tuple(types),
        attribute_members={k: tuple(v) for k, v in members.items()},
        permissive=tuple(permissive),
        rules=tuple(rules),
    )


def module_cil(pp: Path, workdir: Path) -> str:
    """Convert a module package (.pp or .pp.bz2) to CIL text with libsepol's pp converter."""
    converter = next((p for p in PP_TO_CIL if p.is_file()), None)
    if converter is None and shutil.which("pp"):
        converter = Path(shutil.which("pp") or "pp")
    if converter is None:
        raise ForkliftError(
            "the pp-to-CIL converter (/usr/libexec/selinux/hll/pp) is missing",
            hint="install policycoreutils (it ships the hll/pp converter)",
        )
    plain = decompressed(pp, workdir)
    out = workdir / (plain.stem + ".cil")
    run([converter, plain, out])
    return out.read_text(encoding="utf-8")


def decompressed(pp: Path, workdir: Path) -> Path:
    """A .pp path for ``pp``: itself, or its bzip2 contents written into ``workdir``."""
    if pp.suffix != ".bz2":
        return pp
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / pp.name.removesuffix(".bz2")
    try:
        out.write_bytes(bz2.decompress(pp.read_bytes()))
    except OSError as exc:
        raise ForkliftError(f"{pp} is not a bzip2-compressed policy module: {exc}") from None
    return out
