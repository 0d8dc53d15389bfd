"""The configuration file: KEY=value lines, parsed (never sourced) and validated once.

Key names follow container-storage-setup wherever the meaning is the same. Every
error is a ConfigError naming the file, the key and what is wrong; nothing has
been touched when it is raised.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

from moby_dm_storage_setup import CONFIG_FILE, ConfigError

# key -> default. Every key the file may set; anything else is an error.
DEFAULTS: dict[str, str] = {
    "STORAGE_DRIVER": "devicemapper",
    "DEVS": "",
    "ALLOW_PARTITIONS": "false",
    "VG": "",  # empty: "docker" with DEVS/LOOPBACK_FILE, else the root filesystem's VG
    "CONTAINER_THINPOOL": "thinpool",
    "DATA_SIZE": "40%FREE",
    "MIN_DATA_SIZE": "2G",
    "POOL_META_SIZE": "",
    "CHUNK_SIZE": "512K",
    "AUTO_EXTEND_POOL": "yes",
    "POOL_AUTOEXTEND_THRESHOLD": "60",
    "POOL_AUTOEXTEND_PERCENT": "20",
    "WIPE_SIGNATURES": "false",
    "LOOPBACK_FILE": "",
    "LOOPBACK_SIZE": "10G",
    "EXTRA_STORAGE_OPTIONS": "",
    "DEVICE_WAIT_TIMEOUT": "60",
    "GROWPART": "false",
    "ROOT_SIZE": "",
    "CONTAINER_ROOT_LV_NAME": "",
    "CONTAINER_ROOT_LV_SIZE": "40%FREE",
    "CONTAINER_ROOT_LV_MOUNT_PATH": "",
}
DEFAULT_VG = "docker"

_SIZE = re.compile(r"^([0-9]+)([KMGTP]?)$", re.IGNORECASE)
_PERCENT = re.compile(r"^([0-9]{1,3})%(FREE|VG)$", re.IGNORECASE)
_LVM_NAME = re.compile(r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off", ""}
# mount paths the container root LV may never cover
_SYSTEM_PATHS = ("/", "/boot", "/dev", "/etc", "/proc", "/run", "/sys", "/usr", "/var", "/var/lib", "/tmp", "/home")


@dataclass(frozen=True)
class Config:
    storage_driver: str
    devs: tuple[str, ...]
    allow_partitions: bool
    vg: str  # "" = the root filesystem's volume group (found by probe)
    pool: str
    data_size: str
    min_data_bytes: int
    meta_size: str
    chunk_size: str
    auto_extend: bool
    autoextend_threshold: int
    autoextend_percent: int
    wipe_signatures: bool
    loopback_file: str
    loopback_bytes: int
    extra_storage_options: tuple[str, ...]
    device_wait_timeout: int
    growpart: bool = False
    root_size: str = ""
    root_lv_name: str = ""
    root_lv_size: str = "40%FREE"
    root_lv_mount: str = ""
    source: str = CONFIG_FILE
    name: str = "default"  # the named config; its state file is <STATE_DIR>/<name>.json

    @property
    def enabled(self) -> bool:
        return self.storage_driver == "devicemapper"

    @property
    def use_root_vg(self) -> bool:
        return not self.vg

    def with_vg(self, vg: str) -> Config:
        from dataclasses import replace

        return replace(self, vg=vg)


def size_bytes(value: str, key: str, source: str) -> int:
    m = _SIZE.match(value)
    if not m:
        raise ConfigError(f"{source}: {key}={value!r}: expected a size such as 512K, 2G or 100M")
    return int(m.group(1)) * _UNITS[m.group(2).upper()]


def is_percent(value: str) -> bool:
    return bool(_PERCENT.match(value))


def _extent_or_size(values: dict[str, str], key: str, source: str) -> str:
    """``N%FREE``, ``N%VG`` (1-100) or a size; returned normalised (upper case)."""
    value = values[key]
    m = _PERCENT.match(value)
    if m:
        if not 1 <= int(m.group(1)) <= 100:
            raise ConfigError(f"{source}: {key}={value!r}: the percentage must be 1-100")
        return value.upper()
    if not _SIZE.match(value):
        raise ConfigError(f"{source}: {key}={value!r}: expected N%FREE, N%VG or a size such as 20G")
    if size_bytes(value, key, source) == 0:
        raise ConfigError(f"{source}: {key}={value!r}: must be more than 0")
    return value.upper()


def parse_kv(text: str, source: str = CONFIG_FILE) -> dict[str, str]:
    """Parse shell-style KEY=value lines without running a shell.

    Comments (#) and blank lines are skipped; an optional ``export`` prefix is
    allowed; values are unquoted with shlex (no expansion, no command
    substitution). Unknown keys and malformed lines are errors.
    """
    values: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        where = f"{source}:{lineno}"
        if not sep or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", key):
            raise ConfigError(f"{where}: expected KEY=value, got {raw.strip()!r}")
        if key not in DEFAULTS:
            raise ConfigError(f"{where}: unknown key {key} (known: {', '.join(sorted(DEFAULTS))})")
        if "$" in rest or "`" in rest:
            raise ConfigError(f"{where}: {key}: variable expansion and command substitution are not supported")
        try:
            parts = shlex.split(rest, comments=True)
        except ValueError as exc:
            raise ConfigError(f"{where}: {key}: {exc}") from None
        values[key] = " ".join(parts)
    return values


def _int(values: dict[str, str], key: str, lo: int, hi: int, source: str) -> int:
    value = values[key]
    if not value.isdigit() or not lo <= int(value) <= hi:
        raise ConfigError(f"{source}: {key}={value!r}: expected a whole number from {lo} to {hi}")
    return int(value)


def _bool(values: dict[str, str], key: str, source: str) -> bool:
    value = values[key].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{source}: {key}={values[key]!r}: expected true or false")


def _mount_path(value: str, source: str) -> str:
    key = "CONTAINER_ROOT_LV_MOUNT_PATH"
    if not value.startswith("/") or "//" in value or any(p in (".", "..") for p in value.split("/")):
        raise ConfigError(f"{source}: {key}={value!r}: expected an absolute path such as /var/lib/docker")
    norm = value.rstrip("/") or "/"
    if norm in _SYSTEM_PATHS:
        raise ConfigError(f"{source}: {key}={value!r}: a system directory; use a directory of its own "
                          "such as /var/lib/docker")
    if not re.fullmatch(r"[A-Za-z0-9_./+-]+", norm):
        raise ConfigError(f"{source}: {key}={value!r}: only letters, digits and _ . / + - are allowed")
    return norm


def load_config(text: str, source: str = CONFIG_FILE, name: str = "default") -> Config:
    """Validate every key; raises ConfigError naming the file and key."""
    values = dict(DEFAULTS)
    values.update(parse_kv(text, source))
    driver = values["STORAGE_DRIVER"]
    if driver not in ("devicemapper", ""):
        raise ConfigError(
            f"{source}: STORAGE_DRIVER={driver!r}: only 'devicemapper' is supported (or empty to do nothing)"
        )
    for key in ("VG", "CONTAINER_THINPOOL", "CONTAINER_ROOT_LV_NAME"):
        if values[key] and not _LVM_NAME.match(values[key]):
            raise ConfigError(f"{source}: {key}={values[key]!r}: not a valid LVM name")
    if not values["CONTAINER_THINPOOL"]:
        raise ConfigError(f"{source}: CONTAINER_THINPOOL is empty: name the thin pool (default thinpool)")
    devs = tuple(values["DEVS"].split())
    resolved = []
    for dev in devs:
        path = dev if dev.startswith("/") else "/dev/" + dev
        if not re.fullmatch(r"/[A-Za-z0-9_./:+-]+", path) or "/../" in path:
            raise ConfigError(f"{source}: DEVS: {dev!r} is not a device name or path")
        resolved.append(path)
    if len(set(resolved)) != len(resolved):
        raise ConfigError(f"{source}: DEVS lists a device twice: {values['DEVS']!r}")
    data_size = _extent_or_size(values, "DATA_SIZE", source)
    min_data = size_bytes(values["MIN_DATA_SIZE"], "MIN_DATA_SIZE", source)
    if values["POOL_META_SIZE"]:
        size_bytes(values["POOL_META_SIZE"], "POOL_META_SIZE", source)
    chunk = size_bytes(values["CHUNK_SIZE"], "CHUNK_SIZE", source)
    if chunk % (64 << 10) or not (64 << 10) <= chunk <= (1 << 30):
        raise ConfigError(
            f"{source}: CHUNK_SIZE={values['CHUNK_SIZE']!r}: must be a multiple of 64K between 64K and 1G"
        )
    auto_extend = _bool(values, "AUTO_EXTEND_POOL", source)
    threshold = _int(values, "POOL_AUTOEXTEND_THRESHOLD", 50, 100, source)
    percent = _int(values, "POOL_AUTOEXTEND_PERCENT", 1, 1000, source)
    loopfile = values["LOOPBACK_FILE"]
    if loopfile and (not loopfile.startswith("/") or loopfile.endswith("/")):
        raise ConfigError(f"{source}: LOOPBACK_FILE={loopfile!r}: must be an absolute file path")
    if loopfile and devs:
        raise ConfigError(f"{source}: set either DEVS or LOOPBACK_FILE, not both")
    loop_bytes = size_bytes(values["LOOPBACK_SIZE"], "LOOPBACK_SIZE", source)
    extra = tuple(values["EXTRA_STORAGE_OPTIONS"].split())
    for opt in extra:
        if not re.fullmatch(r"dm\.[a-z_]+=\S+", opt):
            raise ConfigError(f"{source}: EXTRA_STORAGE_OPTIONS: {opt!r} is not a dm.KEY=VALUE option")
        if opt.split("=", 1)[0] == "dm.thinpooldev":
            raise ConfigError(f"{source}: EXTRA_STORAGE_OPTIONS: dm.thinpooldev is set by the tool from "
                              "VG and CONTAINER_THINPOOL; remove it")
    vg = values["VG"] or (DEFAULT_VG if devs or loopfile else "")
    growpart = _bool(values, "GROWPART", source)
    root_size = values["ROOT_SIZE"]
    if root_size:
        if not _SIZE.match(root_size) or size_bytes(root_size, "ROOT_SIZE", source) == 0:
            raise ConfigError(f"{source}: ROOT_SIZE={root_size!r}: expected a size such as 20G (the root LV "
                              "is grown to it)")
        root_size = root_size.upper()
    if (growpart or root_size) and (devs or loopfile):
        key = "GROWPART" if growpart else "ROOT_SIZE"
        raise ConfigError(f"{source}: {key}: applies to the root volume group only; it cannot be combined with "
                          "DEVS or LOOPBACK_FILE (unset them, and VG, to use the root volume group)")
    root_lv = values["CONTAINER_ROOT_LV_NAME"]
    mount = values["CONTAINER_ROOT_LV_MOUNT_PATH"]
    if bool(root_lv) != bool(mount):
        missing = "CONTAINER_ROOT_LV_MOUNT_PATH" if root_lv else "CONTAINER_ROOT_LV_NAME"
        raise ConfigError(f"{source}: {missing}: must be set too (CONTAINER_ROOT_LV_NAME and "
                          "CONTAINER_ROOT_LV_MOUNT_PATH go together)")
    if root_lv and root_lv == values["CONTAINER_THINPOOL"]:
        raise ConfigError(f"{source}: CONTAINER_ROOT_LV_NAME={root_lv!r}: same name as CONTAINER_THINPOOL")
    if mount:
        mount = _mount_path(mount, source)
    root_lv_size = _extent_or_size(values, "CONTAINER_ROOT_LV_SIZE", source)
    return Config(
        storage_driver=driver,
        devs=tuple(resolved),
        allow_partitions=_bool(values, "ALLOW_PARTITIONS", source),
        vg=vg,
        pool=values["CONTAINER_THINPOOL"],
        data_size=data_size,
        min_data_bytes=min_data,
        meta_size=values["POOL_META_SIZE"].upper(),
        chunk_size=values["CHUNK_SIZE"].upper(),
        auto_extend=auto_extend,
        autoextend_threshold=threshold,
        autoextend_percent=percent,
        wipe_signatures=_bool(values, "WIPE_SIGNATURES", source),
        loopback_file=loopfile,
        loopback_bytes=loop_bytes,
        extra_storage_options=extra,
        device_wait_timeout=_int(values, "DEVICE_WAIT_TIMEOUT", 0, 3600, source),
        growpart=growpart,
        root_size=root_size,
        root_lv_name=root_lv,
        root_lv_size=root_lv_size,
        root_lv_mount=mount,
        source=source,
        name=name,
    )


def check_name(name: str) -> str:
    """A named config's name (also its state file's name)."""
    if not _NAME.match(name) or name in ("default", "list"):
        raise ConfigError(f"{name!r}: not a usable config name (letters, digits, _ . -; at most 64; "
                          "not 'default')")
    return name


def read_config(path: str, name: str = "default") -> Config:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from None
    return load_config(text, path, name)


def pool_device(vg: str, pool: str) -> str:
    # device-mapper doubles dashes inside VG and LV names
    return "/dev/mapper/{}-{}".format(vg.replace("-", "--"), pool.replace("-", "--"))


def profile_path(cfg: Config) -> str:
    from moby_dm_storage_setup import PROFILE_DIR

    return os.path.join(PROFILE_DIR, profile_name(cfg) + ".profile")


def profile_name(cfg: Config) -> str:
    from moby_dm_storage_setup import PROFILE_NAME

    return PROFILE_NAME if cfg.name == "default" else f"{PROFILE_NAME}-{cfg.name}"
