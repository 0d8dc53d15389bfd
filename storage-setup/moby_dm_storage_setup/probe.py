"""Read the system (devices, LVM, files) into plain records for the planner.

Nothing here changes anything, except re-attaching an existing loop backing
file after a reboot when asked (attach_loop), so that LVM sees its volume group.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shlex
import stat
import subprocess
import time
from dataclasses import dataclass, field

from moby_dm_storage_setup import DAEMON_JSON, LEGACY_STORAGE_ENV_FILE, SetupError
from moby_dm_storage_setup.config import Config, profile_path


@dataclass(frozen=True)
class DeviceState:
    path: str  # as configured
    real: str  # symlinks resolved
    exists: bool
    is_block: bool
    signatures: tuple[str, ...] = ()  # e.g. ("xfs",), ("dos",), ("LVM2_member",)
    pv_vg: str | None = None  # the VG this PV belongs to, "" for an orphan PV, None if not a PV
    size: int = 0  # bytes
    partition_of: str = ""  # parent disk (e.g. "/dev/vda") when this is a partition
    mounts: tuple[str, ...] = ()  # mount points (and "swap") of the device or its partitions
    holders: tuple[str, ...] = ()  # kernel holders: dm-*, md* (device-mapper, RAID, dm-crypt)
    busy: bool = False  # an exclusive open failed with EBUSY


@dataclass(frozen=True)
class LvInfo:
    name: str
    attr: str = "-wi-a-----"
    segtype: str = "linear"
    tags: tuple[str, ...] = ()
    size: int = 0
    profile: str = ""
    devnum: str = ""  # "major:minor" when active
    signatures: tuple[str, ...] = ()  # of the LV's device (only probed for the container root LV)

    @property
    def active(self) -> bool:
        return len(self.attr) > 4 and self.attr[4] == "a"

    @property
    def open(self) -> bool:
        return len(self.attr) > 5 and self.attr[5] == "o"


@dataclass(frozen=True)
class RootInfo:
    """Where / lives, when it is an LV: for the root-VG mode, GROWPART and ROOT_SIZE."""

    vg: str
    lv: str
    lv_size: int
    pvs: tuple[str, ...] = ()  # the root VG's PVs
    growpart: tuple[tuple[str, str], ...] = ()  # (disk, partition number) for each PV that is a partition


@dataclass(frozen=True)
class SystemState:
    vg: str = ""  # the volume group looked at (cfg.vg, or the root VG when cfg.vg is empty)
    devices: tuple[DeviceState, ...] = ()
    vg_exists: bool = False
    vg_tags: tuple[str, ...] = ()
    vg_free_bytes: int = 0
    lvs: tuple[LvInfo, ...] = ()  # the visible LVs of the VG
    vg_pvs: tuple[str, ...] = ()  # device paths of the VG's PVs
    loop_device: str | None = None  # loop device already backing LOOPBACK_FILE
    loopfile_exists: bool = False
    root: RootInfo | None = None
    mounted: dict[str, str] = field(default_factory=dict)  # mount point -> source device
    files: dict[str, str | None] = field(default_factory=dict)  # path -> text (None: absent)

    def device(self, path: str) -> DeviceState | None:
        for d in self.devices:
            if path in (d.path, d.real):
                return d
        return None

    def lv(self, name: str) -> LvInfo | None:
        for lv in self.lvs:
            if lv.name == name:
                return lv
        return None


# --------------------------------------------------------------------------- commands


def run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command (argv, no shell, stdin closed so LVM never waits for an answer)."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise SetupError(f"{argv[0]} not found; install lvm2, util-linux and device-mapper-persistent-data") from None
    if check and proc.returncode != 0:
        raise SetupError(f"{shlex.join(argv)} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()}")
    return proc


def lvm_report(cmd: str, args: list[str]) -> list[dict[str, str]] | None:
    """``lvs``/``vgs``/``pvs`` as a list of rows; None when LVM says the object does not exist."""
    proc = run([cmd, "--reportformat", "json", "--units", "b", "--nosuffix", *args], check=False)
    if proc.returncode != 0:
        return None
    try:
        data = json.loads(proc.stdout)
        return list(data["report"][0][cmd[:2]])
    except (json.JSONDecodeError, KeyError, IndexError, TypeError):
        raise SetupError(f"{cmd} printed a report this tool cannot read: {proc.stdout[:200]!r}") from None


def _bytes(value: str) -> int:
    try:
        return int(float(value or 0))
    except ValueError:
        return 0


def _tags(value: str) -> tuple[str, ...]:
    return tuple(t for t in (value or "").split(",") if t)


# --------------------------------------------------------------------------- devices


def signatures(dev: str) -> tuple[str, ...]:
    proc = run(["wipefs", "--noheadings", "--output", "TYPE", dev], check=False)
    if proc.returncode != 0:
        raise SetupError(f"{dev}: wipefs cannot read it: {proc.stderr.strip()}")
    return tuple(t for t in (line.strip() for line in proc.stdout.splitlines()) if t)


def _sysfs(real: str) -> str:
    return f"/sys/class/block/{os.path.basename(real)}"


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return ""


def mount_table() -> dict[str, str]:
    """mount point -> "major:minor" of its source, from /proc/self/mountinfo."""
    table = {}
    for line in _read("/proc/self/mountinfo").splitlines():
        parts = line.split()
        if len(parts) > 4:
            table[parts[4].replace("\\040", " ")] = parts[2]
    return table


def _mounts_of(real: str, numbers: list[str]) -> tuple[str, ...]:
    points = [mp for mp, dev in mount_table().items() if dev in numbers]
    for line in _read("/proc/swaps").splitlines()[1:]:
        src = line.split()[0] if line.split() else ""
        if src and os.path.exists(src) and os.path.realpath(src) in _with_partitions(real):
            points.append("swap")
    return tuple(sorted(points))


def _with_partitions(real: str) -> list[str]:
    name = os.path.basename(real)
    out = [real]
    try:
        for entry in os.listdir(_sysfs(real)):
            if entry.startswith(name) and os.path.exists(f"{_sysfs(real)}/{entry}/partition"):
                out.append("/dev/" + entry)
    except OSError:
        pass
    return out


def _devnum(path: str) -> str:
    try:
        rdev = os.stat(path).st_rdev
        return f"{os.major(rdev)}:{os.minor(rdev)}"
    except OSError:
        return ""


def _busy(real: str) -> bool:
    try:
        fd = os.open(real, os.O_RDONLY | os.O_EXCL)
    except OSError as exc:
        return exc.errno == errno.EBUSY
    os.close(fd)
    return False


def probe_device(path: str, pv_names: dict[str, str], wait: int = 0) -> DeviceState:
    """One configured device; pv_names maps PV device path -> VG name ("" for an orphan PV)."""
    exists = _wait_for(path, wait)
    real = os.path.realpath(path)
    if not exists or not stat.S_ISBLK(os.stat(real).st_mode):
        return DeviceState(path, real, exists, False)
    sys_dir = _sysfs(real)
    partition_of = ""
    if os.path.exists(f"{sys_dir}/partition"):
        parent = os.path.basename(os.path.dirname(os.path.realpath(sys_dir)))
        partition_of = "/dev/" + parent
    holders: list[str] = []
    for dev in _with_partitions(real):
        with contextlib.suppress(OSError):
            holders += sorted(os.listdir(f"{_sysfs(dev)}/holders"))
    numbers = [n for n in (_devnum(d) for d in _with_partitions(real)) if n]
    size = _bytes(_read(f"{sys_dir}/size").strip()) * 512
    pv_vg = pv_names.get(real)
    if pv_vg is None:
        pv_vg = next((vg for name, vg in pv_names.items() if os.path.realpath(name) == real), None)
    return DeviceState(
        path=path, real=real, exists=True, is_block=True, signatures=signatures(real), pv_vg=pv_vg, size=size,
        partition_of=partition_of, mounts=_mounts_of(real, numbers), holders=tuple(holders),
        busy=_busy(real) if pv_vg is None else False,  # an active PV is held open by its LVs' mappings
    )


def _wait_for(path: str, timeout: int) -> bool:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)
    return True


def all_pvs() -> dict[str, str]:
    rows = lvm_report("pvs", ["--options", "pv_name,vg_name"]) or []
    return {os.path.realpath(r["pv_name"]): r.get("vg_name", "") for r in rows}


# --------------------------------------------------------------------------- the root volume group


def root_info() -> RootInfo | None:
    """The LV mounted at / and its VG, or None when / is not on LVM."""
    num = mount_table().get("/")
    if not num:
        return None
    rows = lvm_report("lvs", ["--options", "vg_name,lv_name,lv_size,lv_kernel_major,lv_kernel_minor"]) or []
    for r in rows:
        if f"{r.get('lv_kernel_major')}:{r.get('lv_kernel_minor')}" == num:
            vg = r["vg_name"]
            pvs = tuple(os.path.realpath(p["pv_name"]) for p in (lvm_report("pvs", ["--options", "pv_name",
                                                                                     "--select", f"vg_name={vg}"]) or []))
            grow = []
            for pv in pvs:
                sys_dir = _sysfs(pv)
                part = _read(f"{sys_dir}/partition").strip()
                if part:
                    disk = "/dev/" + os.path.basename(os.path.dirname(os.path.realpath(sys_dir)))
                    grow.append((disk, part))
            return RootInfo(vg=vg, lv=r["lv_name"], lv_size=_bytes(r["lv_size"]), pvs=pvs, growpart=tuple(grow))
    return None


# --------------------------------------------------------------------------- everything


def probe(
    cfg: Config, *, wait: bool = True, attach_loop: bool = False, extra_devices: tuple[str, ...] = ()
) -> SystemState:
    """The system as the planner needs it. ``cfg.vg`` empty: the root VG is looked up (cfg is not changed)."""
    pv_names = all_pvs()
    devices = [probe_device(p, pv_names, cfg.device_wait_timeout if wait else 0) for p in cfg.devs]
    devices += [probe_device(p, pv_names) for p in extra_devices if p not in cfg.devs]
    loop_dev = None
    if cfg.loopback_file and os.path.exists(cfg.loopback_file):
        out = run(["losetup", "--list", "--noheadings", "--output", "NAME", "--associated", cfg.loopback_file],
                  check=False)
        loop_dev = out.stdout.split()[0].rstrip(":") if out.stdout.split() else None
        if loop_dev is None and attach_loop:
            # after a reboot: re-attach the existing backing file so LVM sees its volume group
            loop_dev = run(["losetup", "--find", "--show", cfg.loopback_file]).stdout.strip()
            run(["pvscan", "--cache", loop_dev], check=False)
    if loop_dev:
        devices.append(probe_device(loop_dev, pv_names))
    root = root_info() if (cfg.use_root_vg or cfg.growpart or cfg.root_size) else None
    vg_name = cfg.vg or (root.vg if root else "")
    vg_rows = lvm_report("vgs", ["--options", "vg_name,vg_free,vg_tags", vg_name]) if vg_name else None
    lvs: tuple[LvInfo, ...] = ()
    vg_pvs: tuple[str, ...] = ()
    if vg_rows:
        opts = "lv_name,lv_attr,segtype,lv_tags,lv_size,lv_profile,lv_kernel_major,lv_kernel_minor"
        rows = lvm_report("lvs", ["--options", opts, vg_name]) or []
        lvs = tuple(LvInfo(name=r["lv_name"], attr=r.get("lv_attr", ""), segtype=r.get("segtype", ""),
                           tags=_tags(r.get("lv_tags", "")), size=_bytes(r.get("lv_size", "0")),
                           profile=r.get("lv_profile", ""),
                           devnum=f"{r['lv_kernel_major']}:{r['lv_kernel_minor']}"
                           if r.get("lv_kernel_major", "-1") not in ("-1", "") else "",
                           signatures=signatures(f"/dev/{vg_name}/{r['lv_name']}")
                           if r["lv_name"] == cfg.root_lv_name and r.get("lv_kernel_major", "-1") not in ("-1", "")
                           else ()) for r in rows)
        vg_pvs = tuple(sorted(p for p, vg in pv_names.items() if vg == vg_name))
    files: dict[str, str | None] = {}
    for path in (DAEMON_JSON, LEGACY_STORAGE_ENV_FILE, profile_path(cfg)):
        files[path] = _read(path) if os.path.exists(path) else None
    mounted = {}
    if cfg.root_lv_mount:
        num = mount_table().get(cfg.root_lv_mount)
        if num:
            mounted[cfg.root_lv_mount] = num
    return SystemState(
        vg=vg_name,
        devices=tuple(devices),
        vg_exists=bool(vg_rows),
        vg_tags=_tags(vg_rows[0].get("vg_tags", "")) if vg_rows else (),
        vg_free_bytes=_bytes(vg_rows[0].get("vg_free", "0")) if vg_rows else 0,
        lvs=lvs,
        vg_pvs=vg_pvs,
        loop_device=loop_dev,
        loopfile_exists=bool(cfg.loopback_file) and os.path.exists(cfg.loopback_file),
        root=root,
        mounted=mounted,
        files=files,
    )


def lv_devnum(vg: str, lv: str) -> str:
    return _devnum(f"/dev/{vg}/{lv}")
