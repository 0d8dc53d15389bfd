"""``invoke sign``: sign the RPMs and the repodata of ``build/repos/<target>``.

Plan (pure): from each RPM's verdict against the key's public half, which RPMs need a signature,
and whether anything is left to do. Run: copy the repository into a staging version, rpmsign the
copies, check every copy now verifies against the key, createrepo_c, ``repomd.xml.asc``, export the
public key as ``RPM-GPG-KEY-forklift``, swap the link. Any failure before the swap leaves the
repository as it was: nothing is ever half-signed.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.release import atomic, gpg

KEY_FILE = "RPM-GPG-KEY-forklift"
REPOMD_SIG = "repodata/repomd.xml.asc"


@dataclass(frozen=True)
class SignPlan:
    to_sign: tuple[str, ...]  # file names
    already: tuple[str, ...]
    up_to_date: bool  # every RPM signed by this key, repodata signed, the same public key exported


def plan(verdicts: Mapping[str, str], repomd_signed: bool, exported_key: bytes | None, public_key: bytes) -> SignPlan:
    """What signing has to do, from each RPM's verdict (gpg.verify_rpms) (pure).

    A ``bad`` RPM (a digest or a signature that does not verify) is refused: it is corrupt or
    tampered with, and signing it would bless it."""
    bad = sorted(n for n, v in verdicts.items() if v == "bad")
    if bad:
        raise ForkliftError(f"{bad[0]}: its digests or signature do not verify (corrupt or tampered with): "
                            "rebuild it before signing")
    to_sign = tuple(sorted(n for n, v in verdicts.items() if v != "ok"))
    already = tuple(sorted(n for n, v in verdicts.items() if v == "ok"))
    return SignPlan(to_sign, already, not to_sign and repomd_signed and exported_key == public_key)


@dataclass(frozen=True)
class SignResult:
    repo: Path
    signed: tuple[str, ...]
    already: tuple[str, ...]
    key: str
    changed: bool


def repo_link(build_dir: Path, target: str) -> Path:
    return build_dir / "repos" / target


def sign_repo(build_dir: Path, target: str, cfg: gpg.KeyConfig) -> SignResult:
    from tooling.builds.lock import BuildLock

    link = repo_link(build_dir, target)
    cur = atomic.current(link)
    if cur is None:
        raise ForkliftError(f"{link}: no repository for target {target}: run invoke build -t {target} first")
    rpms = sorted(cur.glob("*.rpm"))
    if not rpms:
        raise ForkliftError(f"{link}: the repository holds no RPMs: run invoke build -t {target} first")
    with BuildLock(build_dir), gpg.open_signer(cfg) as signer:
        public = signer.public_key()
        verdicts = gpg.verify_rpms(rpms, public)
        key_path = cur / KEY_FILE
        p = plan({r.name: v for r, v in verdicts.items()}, (cur / REPOMD_SIG).is_file(),
                 key_path.read_bytes() if key_path.is_file() else None, public)
        key = f"{signer.key.short_id} ({signer.key.uid})"
        if p.up_to_date:
            return SignResult(link, (), p.already, key, False)
        staged = atomic.staging(link)
        try:
            for r in rpms:
                shutil.copy2(r, staged / r.name)
            targets = [staged / n for n in p.to_sign]
            signer.rpmsign(targets)
            atomic.fault_point("sign:after-rpmsign")
            after = gpg.verify_rpms(sorted(staged.glob("*.rpm")), public)
            wrong = sorted(path.name for path, v in after.items() if v != "ok")
            if wrong:
                raise ForkliftError(f"{wrong[0]}: still not signed by key {signer.key.short_id} after rpmsign "
                                    f"({after[staged / wrong[0]]})")
            createrepo(staged)
            signer.detach_sign(staged / "repodata" / "repomd.xml")
            (staged / KEY_FILE).write_bytes(public)
            atomic.fault_point("sign:before-swap")
            atomic.swap_in(link, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    return SignResult(link, p.to_sign, p.already, key, True)


def createrepo(directory: Path) -> None:
    from tooling.run import run

    run(["createrepo_c", "--quiet", "--no-database", "--simple-md-filenames", str(directory)],
        hint="install createrepo-c (bash ci/setup.sh)")
