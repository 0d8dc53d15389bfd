"""The signing key and the thin layer that runs gpg, rpmsign and rpmkeys.

Where the key comes from (first that is set wins; docs/release.md):

1. ``--key-id ID`` of the task;
2. ``$FORKLIFT_GPG_KEY_FILE`` (an exported secret key) and ``$FORKLIFT_GPG_PASSPHRASE_FILE`` (its
   passphrase, one line): for CI. The key is imported into a throw-away GnuPG home whose agent is
   stopped and whose files are removed afterwards; the passphrase reaches gpg as a file
   (``--passphrase-file`` with loopback pinentry), never on a command line, and is registered with
   tooling.redact so that no output can show it;
3. ``$FORKLIFT_GPG_KEY_ID``;
4. ``key_id`` in ``~/.config/forklift/signing.toml`` (``$XDG_CONFIG_HOME``).

With a key id the user's own keyring (``$GNUPGHOME`` or ``gnupghome`` in signing.toml) and
gpg-agent sign: the agent asks for or has cached the passphrase.

Before anything is signed the key is checked: it exists, is neither expired nor revoked, can sign,
and a probe signature succeeds (a wrong passphrase fails here, before any file is touched).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ForkliftError
from tooling.redact import register
from tooling.run import CommandError, proc_stat, run

ENV_KEY_ID = "FORKLIFT_GPG_KEY_ID"
ENV_KEY_FILE = "FORKLIFT_GPG_KEY_FILE"
ENV_PASSPHRASE_FILE = "FORKLIFT_GPG_PASSPHRASE_FILE"
HOW = (f"pass --key-id, set ${ENV_KEY_ID}, or ${ENV_KEY_FILE} and ${ENV_PASSPHRASE_FILE} "
       "(or key_id in ~/.config/forklift/signing.toml; docs/release.md)")


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "forklift" / "signing.toml"


@dataclass(frozen=True)
class KeyConfig:
    """Which key signs, and where that was said (``source``, for messages)."""

    source: str
    key_id: str | None = None
    key_file: Path | None = None
    passphrase_file: Path | None = None
    gnupghome: Path | None = None


def key_config(key_id: str | None = None, environ: Mapping[str, str] | None = None,
               config: Path | None = None) -> KeyConfig:
    """The signing key configuration (pure but for reading signing.toml); a one-line error when none is set."""
    env = os.environ if environ is None else environ
    home = Path(env["GNUPGHOME"]) if env.get("GNUPGHOME") else None
    if key_id is not None:
        if not key_id.strip():
            raise ForkliftError("--key-id is empty: give a key id, a fingerprint or a user id")
        return KeyConfig("--key-id", key_id=key_id.strip(), gnupghome=home)
    if env.get(ENV_KEY_FILE):
        key_file = Path(env[ENV_KEY_FILE])
        if not key_file.is_file():
            raise ForkliftError(f"${ENV_KEY_FILE} {key_file}: no such file")
        pp = env.get(ENV_PASSPHRASE_FILE)
        if pp and not Path(pp).is_file():
            raise ForkliftError(f"${ENV_PASSPHRASE_FILE} {pp}: no such file")
        return KeyConfig(f"${ENV_KEY_FILE}", key_id=env.get(ENV_KEY_ID) or None, key_file=key_file,
                         passphrase_file=Path(pp) if pp else None)
    if env.get(ENV_PASSPHRASE_FILE):
        raise ForkliftError(f"${ENV_PASSPHRASE_FILE} is set but ${ENV_KEY_FILE} is not: set both (or neither)")
    if env.get(ENV_KEY_ID):
        return KeyConfig(f"${ENV_KEY_ID}", key_id=env[ENV_KEY_ID].strip(), gnupghome=home)
    path = config if config is not None else config_path(env)
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ForkliftError(f"{path}: not valid TOML ({exc})") from None
        kid = data.get("key_id")
        if not isinstance(kid, str) or not kid.strip():
            raise ForkliftError(f"{path}: key_id: expected a key id, fingerprint or user id (a string)")
        gh = data.get("gnupghome")
        return KeyConfig(str(path), key_id=kid.strip(),
                         gnupghome=Path(os.path.expanduser(gh)) if isinstance(gh, str) else home)
    raise ForkliftError(f"no signing key configured: {HOW}")


@dataclass(frozen=True)
class SecretKey:
    fingerprint: str
    uid: str
    validity: str  # gpg's field 2: e expired, r revoked, ...
    expires: int | None  # seconds since the epoch
    capabilities: str

    @property
    def short_id(self) -> str:
        return self.fingerprint[-16:]


def parse_secret_keys(colons: str) -> list[SecretKey]:
    """The primary secret keys of ``gpg --with-colons --list-secret-keys`` output (pure)."""
    keys: list[SecretKey] = []
    current: dict[str, str] | None = None

    def flush() -> None:
        if current is not None and current.get("fpr"):
            keys.append(SecretKey(current["fpr"], current.get("uid", ""), current["validity"],
                                  int(current["expires"]) if current["expires"] else None, current["caps"]))

    for line in colons.splitlines():
        f = line.split(":")
        if f[0] == "sec":
            flush()
            current = {"validity": f[1], "expires": f[6], "caps": f[11] if len(f) > 11 else ""}
        elif current is not None and f[0] == "fpr" and "fpr" not in current:
            current["fpr"] = f[9]
        elif current is not None and f[0] == "uid" and "uid" not in current:
            current["uid"] = f[9]
    flush()
    return keys


def check_usable(key: SecretKey, now: float) -> None:
    """A one-line error when the key cannot sign: expired, revoked, or without signing capability (pure)."""
    name = f"signing key {key.short_id} ({key.uid})" if key.uid else f"signing key {key.short_id}"
    if key.validity == "r":
        raise ForkliftError(f"{name} is revoked: use another key")
    if key.validity == "e" or (key.expires is not None and key.expires <= now):
        when = dt.datetime.fromtimestamp(key.expires, dt.UTC).strftime("%Y-%m-%d") if key.expires else "earlier"
        raise ForkliftError(f"{name} expired on {when}: extend it (gpg --quick-set-expire) or use another key")
    if "S" not in key.capabilities:
        raise ForkliftError(f"{name} cannot sign (capabilities {key.capabilities or 'none'}): add a signing subkey")


class Signer:
    """A checked, usable signing key and the commands that use it."""

    def __init__(self, home: Path | None, key: SecretKey, passphrase_file: Path | None) -> None:
        self.home = home
        self.key = key
        self.passphrase_file = passphrase_file

    @property
    def fingerprint(self) -> str:
        return self.key.fingerprint

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.home is not None:
            env["GNUPGHOME"] = str(self.home)
        return env

    def _secret_args(self) -> list[str]:
        if self.passphrase_file is not None:
            return ["--pinentry-mode", "loopback", "--passphrase-file", str(self.passphrase_file)]
        return []

    def gpg(self, *args: str, check: bool = True) -> str:
        argv = ["gpg", "--batch", "--no-tty", *self._secret_args(), *args]
        res = run(argv, env=self._env(), check=False)
        if check and not res.ok:
            raise self._error(res.stdout + res.stderr)
        return res.stdout

    def _error(self, output: str) -> ForkliftError:
        name = f"signing key {self.key.short_id}"
        if "Bad passphrase" in output:
            where = f" (from ${ENV_PASSPHRASE_FILE})" if self.passphrase_file else ""
            return ForkliftError(f"{name}: wrong passphrase{where}")
        if re.search(r"No pinentry|Inappropriate ioctl|Operation cancelled|No passphrase given", output):
            return ForkliftError(f"{name}: gpg-agent has no passphrase for it and cannot ask for one here: "
                                 f"cache it in the agent, or use ${ENV_KEY_FILE} and ${ENV_PASSPHRASE_FILE}")
        if "No secret key" in output:
            return ForkliftError(f"{name}: no secret key in the keyring")
        last = [line for line in output.strip().splitlines() if line.strip()]
        return ForkliftError(f"{name}: gpg failed: {last[-1] if last else 'no output'}")

    def probe(self, work: Path) -> None:
        """Sign a scratch file: fails (one line) on a wrong or unavailable passphrase."""
        blob = work / "probe.txt"
        blob.write_text("forklift signing probe\n")
        self.gpg("--local-user", self.fingerprint, "--detach-sign", "--output", str(work / "probe.sig"), str(blob))
        blob.unlink()
        (work / "probe.sig").unlink()

    def detach_sign(self, path: Path) -> Path:
        """``path``.asc, an armored detached signature (repomd.xml.asc)."""
        out = path.with_name(path.name + ".asc")
        self.gpg("--local-user", self.fingerprint, "--armor", "--detach-sign", "--output", str(out), str(path))
        return out

    def public_key(self) -> bytes:
        """The armored public key (exported without the secret parts)."""
        text = self.gpg("--armor", "--export-options", "export-minimal", "--export", self.fingerprint)
        if "BEGIN PGP PUBLIC KEY BLOCK" not in text:
            raise ForkliftError(f"signing key {self.key.short_id}: gpg exported no public key")
        return text.encode()

    def rpmsign(self, rpms: Sequence[Path]) -> None:
        """Add this key's signature to each RPM (rpmsign rewrites the files in place)."""
        extra = " ".join(["--batch", "--no-tty", *self._secret_args()])
        argv = ["rpmsign", "--addsign", "--define", f"__gpg {shutil.which('gpg') or 'gpg'}",
                "--define", f"_gpg_name {self.fingerprint}", "--define", f"_gpg_sign_cmd_extra_args {extra}"]
        if self.home is not None:
            argv += ["--define", f"_gpg_path {self.home}"]
        for chunk in range(0, len(rpms), 50):
            try:
                run([*argv, *map(str, rpms[chunk:chunk + 50])], env=self._env(), hint="install rpm-sign (rpmsign)")
            except CommandError as exc:
                raise self._error(exc.output) from None


def _list_secret(home: Path | None, selector: str | None) -> list[SecretKey]:
    env = dict(os.environ)
    if home is not None:
        env["GNUPGHOME"] = str(home)
    argv = ["gpg", "--batch", "--no-tty", "--with-colons", "--fixed-list-mode", "--list-secret-keys"]
    if selector:
        argv += ["--", selector]
    res = run(argv, env=env, check=False, hint="install gnupg")
    return parse_secret_keys(res.stdout) if res.ok else []


def select_key(keys: list[SecretKey], selector: str | None, where: str) -> SecretKey:
    """The one key meant (pure): a one-line error when there is none or more than one."""
    if not keys:
        what = f"signing key {selector}" if selector else "no secret key"
        return _raise(f"{what}: not found in {where}" if selector else f"{where}: holds no secret key")
    if len(keys) > 1:
        listed = ", ".join(k.short_id for k in keys)
        return _raise(f"signing key {selector or '(any)'}: {len(keys)} keys match in {where} ({listed}): "
                      "give the full fingerprint")
    return keys[0]


def _raise(message: str) -> SecretKey:
    raise ForkliftError(message)


def _kill_agent(home: Path) -> None:
    with contextlib.suppress(ForkliftError):
        run(["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], check=False)


SCRATCH_PREFIX = "fk-gpg-"  # the signer's throw-away GnuPG homes, in the temp directory
_OWNER_FILE = "owner"  # "<pid> <process start time>" of the run that made it


def _process_start(pid: int) -> str | None:
    """The start time (clock ticks since boot) of a live process, None when there is none."""
    fields = proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def sweep_dead_homes(tmpdir: Path | None = None) -> list[Path]:
    """Remove the throw-away GnuPG homes of signing runs that died without cleaning up (SIGKILL, power
    loss): they hold a copy of the secret key and keep a gpg-agent running. Only this user's, and only
    those whose owner process is gone."""
    removed = []
    for d in sorted((tmpdir or Path(tempfile.gettempdir())).glob(SCRATCH_PREFIX + "*")):
        try:
            if d.is_symlink() or not d.is_dir() or d.stat().st_uid != os.getuid():
                continue
            pid_text, start = (d / _OWNER_FILE).read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            continue  # not ours, or not one this version made
        if _process_start(pid) == start:
            continue  # its run is still going
        _kill_agent(d / "home")
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


@contextlib.contextmanager
def open_signer(cfg: KeyConfig, now: float | None = None) -> Iterator[Signer]:
    """A checked Signer for the configured key (probe signature done). For a key file, a throw-away
    GnuPG home that is removed (and its agent stopped) when the block ends."""
    import time

    now = time.time() if now is None else now
    if shutil.which("gpg") is None:
        raise ForkliftError("gpg not found on PATH: install gnupg (bash ci/setup.sh)")
    passphrase_file = None
    if cfg.passphrase_file is not None:
        try:
            secret = cfg.passphrase_file.read_text().rstrip("\n")
        except (OSError, UnicodeDecodeError) as exc:
            raise ForkliftError(f"${ENV_PASSPHRASE_FILE} {cfg.passphrase_file}: cannot read it ({exc})") from None
        register(secret)
        passphrase_file = cfg.passphrase_file
    sweep_dead_homes()
    # short path: gpg-agent's socket lives in the home and socket paths are limited to 107 bytes
    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    os.chmod(scratch, 0o700)
    (scratch / _OWNER_FILE).write_text(f"{os.getpid()} {_process_start(os.getpid())}\n")
    home: Path | None = cfg.gnupghome
    try:
        if cfg.key_file is not None:
            home = scratch / "home"
            home.mkdir(mode=0o700)
            # The agent re-protects an imported key with an S2K count calibrated to 100 ms of CPU, which
            # on a busy CI machine makes every signature cost seconds. This copy of the key lives for
            # this run only, beside a passphrase file readable by the same user: a strong S2K here
            # protects nothing, so use the cheap standard count.
            (home / "gpg-agent.conf").write_text("s2k-count 65536\n")
            res = run(["gpg", "--batch", "--no-tty", "--import", str(cfg.key_file)],
                      env={**os.environ, "GNUPGHOME": str(home)}, check=False)
            where = f"${ENV_KEY_FILE} {cfg.key_file}"
            if not res.ok and "no valid OpenPGP data" in res.stderr:
                raise ForkliftError(f"{where}: holds no OpenPGP key")
            key = select_key(_list_secret(home, cfg.key_id), cfg.key_id, where)
        else:
            where = f"the keyring {home or '$GNUPGHOME (~/.gnupg)'}"
            key = select_key(_list_secret(home, cfg.key_id), cfg.key_id, f"{where} (key id from {cfg.source})")
        check_usable(key, now)
        signer = Signer(home, key, passphrase_file)
        work = scratch / "work"
        work.mkdir()
        signer.probe(work)
        yield signer
    finally:
        if cfg.key_file is not None:
            _kill_agent(scratch / "home")
        shutil.rmtree(scratch, ignore_errors=True)


# --------------------------------------------------------------------------- verification (public key only)

def verify_rpms(rpms: Sequence[Path], public_key: bytes, work: Path | None = None) -> dict[Path, str]:
    """Each RPM's verdict against ``public_key`` alone (rpmkeys -K with a private rpmdb):
    ``ok`` (digests and a signature by that key), ``unsigned``, ``bad`` (a digest or the signature
    does not verify) or ``other-key``."""
    if not rpms:
        return {}
    db = Path(tempfile.mkdtemp(prefix="fk-rpmdb-", dir=work))
    key = db / "key.asc"
    key.write_bytes(public_key)
    run(["rpmkeys", "--dbpath", str(db), "--import", str(key)], hint="install rpm")
    out: dict[Path, str] = {}
    for path in rpms:
        res = run(["rpmkeys", "--dbpath", str(db), "--checksig", "--verbose", str(path)], check=False)
        text = res.stdout + res.stderr
        if "BAD" in text:
            out[path] = "bad"
        elif "NOKEY" in text:
            out[path] = "other-key"
        elif re.search(r"Signature, key ID [0-9a-f]+: OK", text) and res.ok:
            out[path] = "ok"
        elif res.ok:
            out[path] = "unsigned"
        else:
            out[path] = "bad"
    shutil.rmtree(db, ignore_errors=True)
    return out
