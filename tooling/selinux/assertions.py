"""Policy assertions kept as data (selinux/assertions.toml) and their evaluation.

Two kinds of check:
  * required rules ([[allow]], [[type_transition]]): looked up with setools (the
    library behind sesearch) in the linked policy, attributes expanded, boolean
    rules counted when their boolean's default enables them;
  * [forbid]: what the module must never introduce, judged on the module's own
    CIL: a permissive or unconfined type, or a rule whose target is a broad
    attribute (all files, all devices, all domains ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import setools  # type: ignore[import-untyped]

from tooling.errors import DataError
from tooling.model import read_toml
from tooling.selinux.cil import ModuleFacts
from tooling.selinux.filecontexts import FileContext


@dataclass(frozen=True)
class RuleAssertion:
    key: str  # "allow[3]": where it is in the file
    kind: str  # "allow" or "type_transition"
    why: str
    source: str
    target: str
    tclass: str
    perms: frozenset[str] = frozenset()  # allow: every one must be granted
    default: str = ""  # type_transition: the new type
    requires: tuple[str, ...] = ()  # types that must exist for the assertion to apply

    def __str__(self) -> str:
        if self.kind == "allow":
            return f"allow {self.source} {self.target}:{self.tclass} {{ {' '.join(sorted(self.perms))} }}"
        return f"type_transition {self.source} {self.target}:{self.tclass} {self.default}"


@dataclass(frozen=True)
class LabelAssertion:
    key: str  # "label[0]"
    why: str
    path: str  # an absolute path the module must label
    type: str  # the type it must get

    def __str__(self) -> str:
        return f"label {self.path} -> {self.type}"


@dataclass(frozen=True)
class Forbid:
    attributes: frozenset[str]  # attributes the module's types must not join
    broad_targets: frozenset[str]  # rule targets that stand for "everything of a kind"
    perms: Mapping[str, frozenset[str]]  # class -> permissions no rule of the module may grant


@dataclass(frozen=True)
class AssertionSet:
    path: Path
    rules: tuple[RuleAssertion, ...]
    labels: tuple[LabelAssertion, ...]
    forbid: Forbid


@dataclass
class Outcome:
    passed: list[RuleAssertion] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # readable reasons
    not_applicable: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- loading


def _str(path: Path, key: str, raw: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = raw.get(name, default)
    if not isinstance(value, str) or not value:
        problem = "missing required field" if value is None else f"expected a non-empty string, got {value!r}"
        raise DataError(path, f"{key}.{name}", problem)
    return value


def _strs(path: Path, key: str, raw: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise DataError(path, f"{key}.{name}", f"expected an array of strings, got {value!r}")
    return tuple(value)


_RULE_FIELDS = {
    "allow": {"why", "source", "target", "class", "perms", "requires"},
    "type_transition": {"why", "source", "target", "class", "default", "requires"},
}


def load_assertions(path: Path) -> AssertionSet:
    doc = read_toml(path)
    unknown = sorted(set(doc) - {"allow", "type_transition", "label", "forbid"})
    if unknown:
        raise DataError(path, unknown[0], "unknown table", hint="known: [[allow]], [[type_transition]], [[label]], [forbid]")
    rules: list[RuleAssertion] = []
    for kind, fields in _RULE_FIELDS.items():
        entries = doc.get(kind, [])
        if not isinstance(entries, list):
            raise DataError(path, kind, f"expected an array of tables ([[{kind}]])")
        for i, raw in enumerate(entries):
            key = f"{kind}[{i}]"
            if not isinstance(raw, dict):
                raise DataError(path, key, "expected a table")
            extra = sorted(set(raw) - fields)
            if extra:
                raise DataError(path, f"{key}.{extra[0]}", "unknown field", hint=f"known: {', '.join(sorted(fields))}")
            perms = frozenset(_strs(path, key, raw, "perms")) if kind == "allow" else frozenset()
            if kind == "allow" and not perms:
                raise DataError(path, f"{key}.perms", "an allow assertion names at least one permission")
            rules.append(RuleAssertion(
                key=key, kind=kind, why=_str(path, key, raw, "why"), source=_str(path, key, raw, "source"),
                target=_str(path, key, raw, "target"), tclass=_str(path, key, raw, "class"), perms=perms,
                default=_str(path, key, raw, "default") if kind == "type_transition" else "",
                requires=_strs(path, key, raw, "requires"),
            ))
    labels: list[LabelAssertion] = []
    label_entries = doc.get("label", [])
    if not isinstance(label_entries, list):
        raise DataError(path, "label", "expected an array of tables ([[label]])")
    for i, raw in enumerate(label_entries):
        key = f"label[{i}]"
        if not isinstance(raw, dict):
            raise DataError(path, key, "expected a table")
        extra = sorted(set(raw) - {"why", "path", "type"})
        if extra:
            raise DataError(path, f"{key}.{extra[0]}", "unknown field", hint="known: why, path, type")
        file_path = _str(path, key, raw, "path")
        if not file_path.startswith("/"):
            raise DataError(path, f"{key}.path", f"{file_path!r} is not an absolute path")
        labels.append(LabelAssertion(key=key, why=_str(path, key, raw, "why"), path=file_path,
                                     type=_str(path, key, raw, "type")))
    f = doc.get("forbid", {})
    if not isinstance(f, dict):
        raise DataError(path, "forbid", "expected a table")
    extra = sorted(set(f) - {"attributes", "broad_targets", "perms"})
    if extra:
        raise DataError(path, f"forbid.{extra[0]}", "unknown field", hint="known: attributes, broad_targets, perms")
    perms_raw = f.get("perms", {})
    if not isinstance(perms_raw, dict):
        raise DataError(path, "forbid.perms", "expected a table of class = [permissions]")
    forbid = Forbid(
        attributes=frozenset(_strs(path, "forbid", f, "attributes")),
        broad_targets=frozenset(_strs(path, "forbid", f, "broad_targets")),
        perms={cls: frozenset(_strs(path, "forbid.perms", perms_raw, cls)) for cls in perms_raw},
    )
    return AssertionSet(path=path, rules=tuple(rules), labels=tuple(labels), forbid=forbid)


# --------------------------------------------------------------------------- required rules (setools)


def _type_exists(policy: Any, name: str) -> bool:
    try:
        policy.lookup_type_or_attr(name)
    except setools.exception.InvalidType:
        return False
    return True


def _active(rule: Any) -> bool:
    """An unconditional rule, or a boolean rule its boolean's default turns on."""
    try:
        cond = rule.conditional
    except setools.exception.RuleNotConditional:
        return True
    return bool(cond.evaluate() == rule.conditional_block)


def _names(policy: Any, name: str) -> frozenset[str]:
    """A type and every attribute holding it (what a rule may name to cover it)."""
    item = policy.lookup_type_or_attr(name)
    if isinstance(item, setools.policyrep.TypeAttribute):
        return frozenset({name})
    return frozenset({name, *(a.name for a in item.attributes())})


def granted(policy: Any, assertions: Iterable[RuleAssertion]) -> dict[RuleAssertion, set[str]]:
    """What the policy grants for each assertion, in one pass over its TE rules.

    allow: the union of the permissions of every active rule whose source and
    target cover the assertion's types (attributes expanded, as sesearch does);
    type_transition: {"default"} when an active rule with that default exists.
    """
    todo = list(assertions)
    names = {a: (_names(policy, a.source), _names(policy, a.target)) for a in todo}
    by_key: dict[tuple[str, str], list[RuleAssertion]] = {}
    for a in todo:
        by_key.setdefault((a.kind, a.tclass), []).append(a)
    out: dict[RuleAssertion, set[str]] = {a: set() for a in todo}
    for rule in policy.terules():
        candidates = by_key.get((rule.ruletype.name, rule.tclass.name))
        if not candidates:
            continue
        source, target = rule.source.name, rule.target.name
        for a in candidates:
            sources, targets = names[a]
            if source not in sources or not (target in targets or (target == "self" and a.source == a.target)):
                continue
            if not _active(rule):
                continue
            if a.kind == "allow":
                out[a] |= set(rule.perms)
            elif rule.default.name == a.default:
                out[a].add("default")
    return out


def _reason(a: RuleAssertion, have: set[str]) -> str | None:
    if a.kind == "allow":
        missing = a.perms - have
        return f"missing permission(s) {{ {' '.join(sorted(missing))} }}" if missing else None
    return None if have else "no such type_transition"


def evaluate_rules(policy: Any, assertions: Iterable[RuleAssertion], path: Path) -> Outcome:
    out = Outcome()
    applicable: list[RuleAssertion] = []
    for a in assertions:
        names = dict.fromkeys(t for t in (a.source, a.target, a.default, *a.requires) if t and t != "self")
        absent = [t for t in names if not _type_exists(policy, t)]
        if absent and set(absent) <= set(a.requires):
            out.not_applicable.append(f"{path.name} {a.key}: {a} (policy has no {', '.join(absent)})")
        elif absent:
            out.failed.append(f"{path.name} {a.key}: {a}\n      the policy has no type {', '.join(absent)} ({a.why})")
        else:
            applicable.append(a)
    have = granted(policy, applicable)
    for a in applicable:
        reason = _reason(a, have[a])
        if reason is None:
            out.passed.append(a)
        else:
            out.failed.append(f"{path.name} {a.key}: {a}\n      {reason} ({a.why})")
    return out


def evaluate_types(policy: Any, module_types: Iterable[str], forbid: Forbid) -> list[str]:
    """The module's types in the linked policy: none permissive, none in a forbidden attribute."""
    problems: list[str] = []
    for name in module_types:
        t = policy.lookup_type(name)
        if t.ispermissive:
            problems.append(f"type {name} is permissive")
        bad = sorted(str(a) for a in t.attributes() if str(a) in forbid.attributes)
        if bad:
            problems.append(f"type {name} has forbidden attribute(s) {', '.join(bad)}")
    return problems


# --------------------------------------------------------------------------- forbidden content (module CIL)


def evaluate_module(module: ModuleFacts, forbid: Forbid) -> list[str]:
    """What the module itself introduces that [forbid] rules out (pure)."""
    problems = [f"the module declares permissive type {t}" for t in module.permissive]
    for attr, members in sorted(module.attribute_members.items()):
        if attr in forbid.attributes:
            problems.append(f"the module puts {', '.join(members)} into {attr}")
    for rule in module.rules:
        if rule.target in forbid.broad_targets or rule.source in forbid.broad_targets:
            problems.append(f"broad rule {rule}: {rule.target if rule.target in forbid.broad_targets else rule.source} "
                            "stands for every object of a kind")
        if rule.kind == "allow" and rule.tclass in forbid.perms:
            bad = sorted(set(rule.perms) & forbid.perms[rule.tclass])
            if bad:
                problems.append(f"rule {rule} grants forbidden {rule.tclass} permission(s) {', '.join(bad)}")
    return problems


# --------------------------------------------------------------------------- file contexts


def _literal_prefix(regex: str) -> int:
    """Length of the regex's literal stem: the more specific entry wins (as in libselinux)."""
    m = re.search(r"[.^$?*+|\[\](){}\\]", regex)
    return len(regex) if m is None else m.start()


def label_of(contexts: Iterable[FileContext], path: str) -> FileContext | None:
    """The module's entry that labels ``path``: the matching one with the longest literal stem (pure)."""
    best: FileContext | None = None
    for fc in contexts:
        if fc.matches(path) and (best is None or _literal_prefix(fc.regex) >= _literal_prefix(best.regex)):
            best = fc
    return best


def evaluate_labels(contexts: list[FileContext], labels: Iterable[LabelAssertion], path: Path) -> list[str]:
    problems: list[str] = []
    for a in labels:
        fc = label_of(contexts, a.path)
        if fc is None:
            problems.append(f"{path.name} {a.key}: {a}\n      no file context of the module matches {a.path} ({a.why})")
        elif fc.type != a.type:
            problems.append(f"{path.name} {a.key}: {a}\n      labelled {fc.type} by '{fc}' ({a.why})")
    return problems


def evaluate_file_contexts(policy: Any, contexts: Iterable[FileContext]) -> list[str]:
    """Every type the module's file contexts name exists in the policy and is a file type."""
    problems: list[str] = []
    file_type = _type_exists(policy, "file_type")
    for fc in contexts:
        if fc.type is None:
            continue
        if not _type_exists(policy, fc.type):
            problems.append(f"file context '{fc}': no type {fc.type} in the policy")
            continue
        t = policy.lookup_type(fc.type)
        if file_type and "file_type" not in {str(a) for a in t.attributes()}:
            problems.append(f"file context '{fc}': {fc.type} is not a file type (declare it with files_type() or similar)")
    return problems
