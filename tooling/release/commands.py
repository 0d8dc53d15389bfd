"""The three release tasks as tasks.py calls them: check the arguments first (a one-line error naming
the culprit), then one call into the job's module, then a short account on the console."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tooling.errors import ForkliftError
from tooling.model import Matrix, Target


def _target(matrix: Matrix, name: str | None) -> Target:
    chosen = name or matrix.default_target
    if chosen not in matrix.targets:
        raise ForkliftError(f"--target {chosen}: unknown target (known: {', '.join(matrix.targets)})")
    return matrix.targets[chosen]


def sign(matrix: Matrix, target: str | None, key_id: str | None, build_dir: Path, console: Console) -> None:
    from tooling.release import gpg
    from tooling.release import sign as s

    t = _target(matrix, target)
    res = s.sign_repo(build_dir, t.name, gpg.key_config(key_id))
    if res.changed:
        console.print(f"signed {len(res.signed)} RPM(s) of {res.repo} with key {res.key} "
                      f"({len(res.already)} already signed); {s.REPOMD_SIG}; public key {res.repo / s.KEY_FILE}",
                      markup=False, highlight=False)
    else:
        console.print(f"{res.repo}: every RPM and the repodata already signed with key {res.key}: nothing to do",
                      markup=False, highlight=False)


def publish(matrix: Matrix, target: str | None, dest: str | None, channel: str, keep: int, base_url: str | None,
            key_id: str | None, build_dir: Path, console: Console) -> None:
    from tooling.release import gpg
    from tooling.release import publish as p

    t = _target(matrix, target)
    dest_dir = Path(dest) if dest else build_dir / "publish"
    p.check_channel(channel)
    p.check_keep(keep)
    if base_url:
        p.check_base_url(base_url)
    results = p.publish(build_dir, t, dest_dir, channel, gpg.key_config(key_id), keep=keep, base_url=base_url)
    for r in results:
        state = "published" if r.changed else "unchanged"
        console.print(f"{state}: {r.path} ({len(r.files)} RPMs)", markup=False, highlight=False)
    console.print(f"dnf: {dest_dir.resolve() / t.distro / p.REPO_FILE}", markup=False, highlight=False)


def release_report(matrix: Matrix, target: str | None, build_dir: Path, out: str | None, build_json: str | None,
                   previous: str | None, rebuild_dir: str | None, console: Console) -> None:
    from tooling.release import report as r

    t = _target(matrix, target)
    if build_json is not None and not Path(build_json).is_file():
        raise ForkliftError(f"--build-json {build_json}: no such file (write it with invoke build --json FILE)")
    if previous is not None and not Path(previous).is_file():
        raise ForkliftError(f"--previous {previous}: no such file (a release.json of an earlier release report)")
    if rebuild_dir is not None and not Path(rebuild_dir).is_dir():
        raise ForkliftError(f"--rebuild-dir {rebuild_dir}: no such directory (a second build tree of the same inputs)")
    out_dir = Path(out) if out else build_dir / "release" / t.name
    done = r.release_report(matrix, t, build_dir, out_dir, build_json=Path(build_json) if build_json else None,
                            previous=Path(previous) if previous else None,
                            rebuild_dir=Path(rebuild_dir).resolve() if rebuild_dir else None)
    for name in ("release.md", "release.html", "release.json", "SHA256SUMS", "sboms/"):
        console.print(str(done / name), markup=False, highlight=False)
