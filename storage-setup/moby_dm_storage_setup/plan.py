"""What to do (pure): from the configuration, the probed system and the ownership
record to a list of steps. Every refusal is raised here, before the first change.

Ownership rules (teardown): only what carries the LVM tag or is in the record is
removed. A pool without the tag is refused; a pre-existing VG keeps everything
but the tool's own LVs; a VG the tool created is removed only when it holds no
other LV; PV labels and signatures are cleared only on devices the tool labelled.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from moby_dm_storage_setup import DAEMON_JSON, HEADER, LEGACY_STORAGE_ENV_FILE, PROG, TAG, SetupError
from moby_dm_storage_setup.config import Config, is_percent, pool_device, profile_name, profile_path, size_bytes
from moby_dm_storage_setup.probe import DeviceState, SystemState
from moby_dm_storage_setup.state import DONE, PENDING, State

LOOP = "@LOOP"  # replaced by the loop device losetup prints, at run time
# engine options the tool always sets; EXTRA_STORAGE_OPTIONS keys are the tool's too
OWN_OPTS = ("dm.thinpooldev", "dm.use_deferred_removal", "dm.use_deferred_deletion", "dm.fs")
DAEMON_CLAIM = "daemon-json:storage-opts"
# wipefs TYPE values that mean "member of something else": never wiped by this tool
_MD = ("linux_raid_member", "isw_raid_member", "ddf_raid_member")
_LUKS = ("crypto_LUKS",)
_PTABLES = ("dos", "gpt", "PMBR", "atari", "bsd", "sun", "sgi", "mac")


@dataclass(frozen=True)
class Step:
    """One action: a command (argv), a file write (path, text) or a file removal."""

    argv: tuple[str, ...] = ()
    write: tuple[str, str] | None = None
    remove: str | None = None
    why: str = ""
    claim: str = ""  # recorded pending before the step, done after
    release: str = ""  # dropped from the record after the step
    ok_rc: tuple[int, ...] = (0,)

    def describe(self, loop_dev: str = "") -> str:
        if self.argv:
            return shlex.join(loop_dev if a == LOOP and loop_dev else a for a in self.argv)
        if self.write:
            return f"write {self.write[0]}"
        return f"remove {self.remove}"


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    adopt: list[str] = field(default_factory=list)  # recorded claims the probe confirmed: mark done
    drop: list[str] = field(default_factory=list)  # recorded claims whose object is gone: forget
    info: dict[str, Any] = field(default_factory=dict)  # merged into the record's info

    def cmd(self, *argv: str, why: str = "", claim: str = "", release: str = "", ok_rc: tuple[int, ...] = (0,)) -> None:
        self.steps.append(Step(argv=tuple(argv), why=why, claim=claim, release=release, ok_rc=ok_rc))

    @property
    def commands(self) -> list[list[str]]:
        return [list(s.argv) for s in self.steps if s.argv]

    @property
    def writes(self) -> dict[str, str]:
        return {s.write[0]: s.write[1] for s in self.steps if s.write}

    @property
    def removes(self) -> list[str]:
        return [s.remove for s in self.steps if s.remove]


# --------------------------------------------------------------------------- engine configuration


def profile_text(cfg: Config) -> str:
    return (
        f"{HEADER}\n"
        "activation {\n"
        f"\tthin_pool_autoextend_threshold={cfg.autoextend_threshold}\n"
        f"\tthin_pool_autoextend_percent={cfg.autoextend_percent}\n"
        "}\n"
    )


def storage_options(cfg: Config) -> list[str]:
    return [
        f"dm.thinpooldev={pool_device(cfg.vg, cfg.pool)}",
        "dm.use_deferred_removal=true",
        "dm.use_deferred_deletion=true",
        "dm.fs=xfs",
        *cfg.extra_storage_options,
    ]


def owned_keys(cfg: Config) -> list[str]:
    return sorted({o.split("=", 1)[0] for o in storage_options(cfg)} | set(OWN_OPTS))


def _load_daemon_json(existing: str | None) -> dict[str, Any]:
    if not existing or not existing.strip():
        return {}
    try:
        loaded = json.loads(existing)
    except json.JSONDecodeError as exc:
        raise SetupError(f"{DAEMON_JSON}: not valid JSON ({exc}); fix or remove it, then run again") from None
    if not isinstance(loaded, dict):
        raise SetupError(f"{DAEMON_JSON}: expected a JSON object at the top level; fix it, then run again")
    opts = loaded.get("storage-opts", [])
    if not isinstance(opts, list) or not all(isinstance(o, str) for o in opts):
        raise SetupError(f"{DAEMON_JSON}: storage-opts must be a list of strings; fix it, then run again")
    return loaded


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def merge_daemon_json(existing: str | None, cfg: Config) -> str:
    """daemon.json with the tool's storage keys set; every other key and every other storage-opt
    (dm.basesize, ...) kept."""
    data = _load_daemon_json(existing)
    mine = set(owned_keys(cfg))
    kept = [o for o in data.get("storage-opts", []) if o.split("=", 1)[0] not in mine]
    data["storage-driver"] = "devicemapper"
    data["storage-opts"] = kept + storage_options(cfg)
    return _dump(data)


def unmerge_daemon_json(existing: str | None, keys: list[str], driver_before: str | None) -> str | None:
    """daemon.json without the tool's keys (``keys``), storage-driver put back as it was; None: unchanged."""
    if existing is None:
        return None
    data = _load_daemon_json(existing)
    before = _dump(data)
    opts = [o for o in data.get("storage-opts", []) if o.split("=", 1)[0] not in set(keys)]
    if opts:
        data["storage-opts"] = opts
    else:
        data.pop("storage-opts", None)
    if data.get("storage-driver") == "devicemapper":
        if driver_before:
            data["storage-driver"] = driver_before
        else:
            del data["storage-driver"]
    after = _dump(data)
    return after if after != before else None


# --------------------------------------------------------------------------- refusals


def refusal(dev: DeviceState, cfg: Config, wipe: bool) -> str | None:
    """Why ``dev`` cannot become a PV of the pool (None: it can). Names the device and the reason."""
    name = dev.path if dev.path == dev.real else f"{dev.path} ({dev.real})"
    if not dev.exists:
        return f"{cfg.source}: DEVS: {dev.path} does not exist (waited {cfg.device_wait_timeout} s)"
    if not dev.is_block:
        return f"{cfg.source}: DEVS: {name} is not a block device"
    if dev.partition_of and not cfg.allow_partitions:
        return (f"{name} is a partition of {dev.partition_of}; DEVS takes whole disks. "
                "Give the disk, or set ALLOW_PARTITIONS=true to use the partition")
    if dev.mounts:
        return f"{name} is mounted ({', '.join(dev.mounts)}); refusing to use it"
    md = [s for s in dev.signatures if s in _MD]
    if md or any(h.startswith("md") for h in dev.holders):
        return (f"{name} is an MD RAID member ({', '.join(md or dev.holders)}); refusing to use it. "
                "Stop the array and clear it (mdadm --zero-superblock) first if it is no longer needed")
    if any(s in _LUKS for s in dev.signatures):
        return (f"{name} is a LUKS encrypted volume; refusing to use it. "
                "Close and erase it (cryptsetup erase, wipefs) first if it is no longer needed")
    if dev.pv_vg:
        if dev.pv_vg == cfg.vg:
            return None
        return (f"{name} is a physical volume of volume group {dev.pv_vg}, not {cfg.vg}; "
                "remove it from DEVS or from that volume group")
    if dev.holders:
        return f"{name} is in use by {', '.join(dev.holders)} (device-mapper or RAID); refusing to use it"
    if dev.busy:
        return f"{name} is in use (another program holds it open exclusively); refusing to use it"
    if dev.signatures and not wipe:
        tables = [s for s in dev.signatures if s in _PTABLES]
        what = (f"a partition table ({', '.join(tables)})" if tables else
                "an LVM physical volume label" if dev.signatures == ("LVM2_member",) else
                f"a filesystem or other signature ({', '.join(dev.signatures)})")
        return (f"{name} holds {what}; refusing to use it. "
                "If its data may be destroyed, set WIPE_SIGNATURES=true or pass --wipe")
    return None


# --------------------------------------------------------------------------- setup


def check_record(cfg: Config, record: State) -> None:
    """A record belongs to one VG/pool: refuse to act on another with it (that would mix up ownership)."""
    vg, pool = record.info.get("vg"), record.info.get("pool")
    if record.claims and vg and ((cfg.vg and vg != cfg.vg) or (pool and pool != cfg.pool)):
        raise SetupError(f"{record.path} records a setup of {vg}/{pool} (config {record.info.get('config', '?')}), "
                         f"not {cfg.vg or '(root VG)'}/{cfg.pool} ({cfg.source}); tear that one down first, or use a "
                         "named configuration (create NAME FILE) for a second pool")


def resolve_vg(cfg: Config, st: SystemState, record: State | None = None) -> Config:
    """The config with its VG filled in: VG, else the recorded one, else the root filesystem's VG."""
    if cfg.vg:
        return cfg
    if record is not None and record.info.get("vg"):
        return cfg.with_vg(str(record.info["vg"]))
    if st.root is not None:
        return cfg.with_vg(st.root.vg)
    raise SetupError(f"{cfg.source}: DEVS, LOOPBACK_FILE and VG are all empty and / is not on LVM, so there is no "
                     "root volume group to use; list the disks for the pool in DEVS")


def _size_args(cfg: Config, key: str, value: str, st: SystemState, total: int, need: int) -> list[str]:
    if not is_percent(value):
        want = size_bytes(value, key, cfg.source)
        if st.vg_exists and want > st.vg_free_bytes:
            raise SetupError(f"{cfg.source}: {key}={value} is more than the {st.vg_free_bytes} bytes free in {cfg.vg}")
        if want < need:
            raise SetupError(f"{cfg.source}: {key}={value} is below MIN_DATA_SIZE ({need} bytes)")
        return ["--size", value]
    pct = int(value.split("%")[0])
    if total * pct // 100 < need:
        raise SetupError(f"{cfg.vg} has {total} bytes free; {key}={value} of that is below MIN_DATA_SIZE ({need} "
                         "bytes). Add disks to DEVS or lower MIN_DATA_SIZE")
    return ["--extents", value]


def plan_setup(cfg: Config, st: SystemState, record: State | None = None, *, wipe: bool = False) -> Plan:
    """The steps that bring the system to the configured state (idempotent; resumes a killed run)."""
    record = record if record is not None else State(path="")
    plan = Plan()
    if not cfg.enabled:
        plan.notes.append("STORAGE_DRIVER is empty: nothing to do")
        return plan
    check_record(cfg, record)
    cfg = resolve_vg(cfg, st, record)
    wipe = wipe or cfg.wipe_signatures
    plan.info.update(vg=cfg.vg, pool=cfg.pool, config=cfg.source)
    pool_claim = f"lv:{cfg.vg}/{cfg.pool}"
    vg_claim = f"vg:{cfg.vg}"
    loop_claim = f"loop:{cfg.loopback_file}" if cfg.loopback_file else ""

    if (cfg.growpart or cfg.root_size) and (st.root is None or st.root.vg != cfg.vg):
        key = "GROWPART" if cfg.growpart else "ROOT_SIZE"
        where = f"the root volume group is {st.root.vg}" if st.root else "/ is not on LVM"
        raise SetupError(f"{cfg.source}: {key}: applies to the root volume group only, and {where} (VG={cfg.vg})")

    # devices: refuse before anything changes
    members: list[str] = []  # devices to add to the VG (vgcreate/vgextend)
    labels: list[DeviceState] = []  # devices to pvcreate
    if cfg.loopback_file:
        if st.loop_device is None:
            if not st.loopfile_exists:
                plan.cmd("truncate", "-s", str(cfg.loopback_bytes), cfg.loopback_file, why="sparse backing file",
                         claim=loop_claim)
            elif record.claims.get(loop_claim) == PENDING:
                plan.adopt.append(loop_claim)
            elif not record.has(loop_claim):
                plan.notes.append(f"{cfg.loopback_file} exists and was not created by {PROG}; using it")
            plan.cmd("losetup", "--find", "--show", cfg.loopback_file, why="attach the backing file")
            if not st.vg_exists:
                labels.append(DeviceState(LOOP, LOOP, True, True))
                members.append(LOOP)
        elif record.claims.get(loop_claim) == PENDING:
            plan.adopt.append(loop_claim)
    elif not cfg.devs and not st.vg_exists:
        raise SetupError(f"{cfg.source}: DEVS and LOOPBACK_FILE are empty and volume group {cfg.vg} does not exist; "
                         "list the disks for the pool in DEVS (or set LOOPBACK_FILE for a development pool)")
    loop_owned = bool(loop_claim) and (record.has(loop_claim) or not st.loopfile_exists)
    candidates = [d for d in (st.device(p) for p in cfg.devs) if d is not None]
    loop_dev = st.device(st.loop_device) if cfg.loopback_file and st.loop_device else None
    if loop_dev is not None:
        candidates.append(loop_dev)
    for dev in candidates:
        is_loop = dev is loop_dev
        claim = f"pv:{dev.real}"
        ours = loop_owned if is_loop else record.has(claim)
        if dev.pv_vg == cfg.vg:
            if ours and record.claims.get(claim) == PENDING:
                plan.adopt.append(claim)
            continue
        if ours and dev.pv_vg in ("", None) and set(dev.signatures) <= {"LVM2_member"} and not dev.holders:
            # an earlier run stopped after wipefs or pvcreate: finish it
            if dev.signatures and record.claims.get(claim) == PENDING:
                plan.adopt.append(claim)
            elif not dev.signatures:
                labels.append(dev)
            members.append(dev.real)
            continue
        why = refusal(dev, cfg, wipe)
        if why:
            raise SetupError(why)
        labels.append(dev)
        members.append(dev.real)
    if not st.vg_exists and not members:
        raise SetupError(f"no device to create volume group {cfg.vg} on")

    pool = st.lv(cfg.pool)
    if pool is not None:
        if pool.segtype != "thin-pool":
            raise SetupError(f"{cfg.vg}/{cfg.pool} exists but is not a thin pool ({pool.segtype}); "
                             "set CONTAINER_THINPOOL to another name")
        if TAG not in pool.tags and _made_by_0_1(cfg, st, record, pool.profile):
            _adopt_0_1(cfg, st, plan, members)
        elif TAG not in pool.tags:
            raise SetupError(f"thin pool {cfg.vg}/{cfg.pool} exists but was not created by {PROG} (it has no "
                             f"'{TAG}' tag); refusing to manage it. Set CONTAINER_THINPOOL to another name, or hand "
                             f"it over with: lvchange --addtag {TAG} {cfg.vg}/{cfg.pool}")
        if record.claims.get(pool_claim) != DONE and TAG in pool.tags:
            plan.adopt.append(pool_claim)
    root_lv = st.lv(cfg.root_lv_name) if cfg.root_lv_name else None
    if root_lv is not None and TAG not in root_lv.tags:
        raise SetupError(f"{cfg.vg}/{cfg.root_lv_name} (CONTAINER_ROOT_LV_NAME) exists but was not created by "
                         f"{PROG} (no '{TAG}' tag); refusing to use it. Set another name")
    if cfg.root_lv_mount and cfg.root_lv_mount in st.mounted and (
            root_lv is None or st.mounted[cfg.root_lv_mount] != root_lv.devnum):
        raise SetupError(f"{cfg.source}: CONTAINER_ROOT_LV_MOUNT_PATH={cfg.root_lv_mount}: something else is "
                         "mounted there; unmount it or choose another path")

    # growing the root volume group and root LV (container-storage-setup's GROWPART, ROOT_SIZE)
    if cfg.growpart and st.root is not None:
        for disk, part in st.root.growpart:
            plan.cmd("growpart", disk, part, why="grow the root VG's partition (NOCHANGE is fine)", ok_rc=(0, 1))
        for pv in st.root.pvs:
            plan.cmd("pvresize", pv, why="use the grown partition")
    if cfg.root_size and st.root is not None:
        want = size_bytes(cfg.root_size, "ROOT_SIZE", cfg.source)
        if want > st.root.lv_size:
            plan.cmd("lvextend", "--resizefs", "--size", cfg.root_size, f"{cfg.vg}/{st.root.lv}",
                     why="ROOT_SIZE: grow the root LV and its filesystem")

    # the volume group
    for dev in labels:
        on_loop = dev.real in (LOOP, st.loop_device)  # owned through the loop file's claim
        claim = "" if on_loop else f"pv:{dev.real}"
        if dev.signatures and not on_loop:
            plan.cmd("wipefs", "--all", dev.real, why=f"wipe {', '.join(dev.signatures)} (asked to)", claim=claim)
        plan.cmd("pvcreate", "--yes", dev.real, why="new physical volume", claim=claim)
    if not st.vg_exists:
        plan.cmd("vgcreate", "--addtag", TAG, cfg.vg, *members, why="new volume group", claim=vg_claim)
    elif members:
        plan.cmd("vgextend", cfg.vg, *members, why="add devices to the volume group")
        if TAG in st.vg_tags and not record.has(vg_claim):
            plan.adopt.append(vg_claim)
    elif TAG in st.vg_tags and record.claims.get(vg_claim) != DONE:
        plan.adopt.append(vg_claim)

    # the autoextend profile, the pool
    prof = profile_path(cfg)
    if cfg.auto_extend and st.files.get(prof) != profile_text(cfg):
        plan.steps.append(Step(write=(prof, profile_text(cfg)), why="autoextend profile", claim=f"file:{prof}"))
    elif record.claims.get(f"file:{prof}") == PENDING:
        plan.adopt.append(f"file:{prof}")
    if pool is None:
        free = st.vg_free_bytes if st.vg_exists else sum(d.size for d in st.devices if d.real in members)
        if not st.vg_exists and LOOP in members:
            free = cfg.loopback_bytes
        size_args = _size_args(cfg, "DATA_SIZE", cfg.data_size, st, free, cfg.min_data_bytes)
        meta_args = ["--poolmetadatasize", cfg.meta_size] if cfg.meta_size else []
        plan.cmd("lvcreate", "--yes", "--type", "thin-pool", "--zero", "n", "--chunksize", cfg.chunk_size,
                 *meta_args, *size_args, "--addtag", TAG, "--name", cfg.pool, cfg.vg,
                 why="the thin pool", claim=pool_claim)
    if cfg.auto_extend and (pool is None or pool.profile != profile_name(cfg)):
        plan.cmd("lvchange", "--metadataprofile", profile_name(cfg), f"{cfg.vg}/{cfg.pool}",
                 why="attach the autoextend profile")
    if pool is not None and not pool.active:
        plan.cmd("lvchange", "--activate", "y", f"{cfg.vg}/{cfg.pool}", why="activate the pool")

    # the container root LV (CONTAINER_ROOT_LV_NAME/SIZE/MOUNT_PATH): xfs, mounted by every run (also at boot)
    if cfg.root_lv_name:
        lv_path = f"/dev/{cfg.vg}/{cfg.root_lv_name}"
        claim = f"lv:{cfg.vg}/{cfg.root_lv_name}"
        if root_lv is None:
            size_args = ["--extents", cfg.root_lv_size] if is_percent(cfg.root_lv_size) else ["--size", cfg.root_lv_size]
            plan.cmd("lvcreate", "--yes", "--wipesignatures", "y", *size_args, "--addtag", TAG,
                     "--name", cfg.root_lv_name, cfg.vg, why="the container root LV", claim=claim)
        elif record.claims.get(claim) != DONE:
            plan.adopt.append(claim)
        if root_lv is not None and not root_lv.active:
            plan.cmd("lvchange", "--activate", "y", f"{cfg.vg}/{cfg.root_lv_name}", why="activate the root LV")
        if root_lv is None or not root_lv.signatures:
            plan.cmd("mkfs.xfs", "-q", lv_path, why="filesystem of the container root LV")
        if cfg.root_lv_mount not in st.mounted:
            plan.cmd("mkdir", "-p", cfg.root_lv_mount, why="mount point")
            plan.cmd("mount", lv_path, cfg.root_lv_mount, why="the container root LV")

    # the engine
    text = st.files.get(DAEMON_JSON)
    merged = merge_daemon_json(text, cfg)
    if merged != text:
        plan.steps.append(Step(write=(DAEMON_JSON, merged), why="engine storage options", claim=DAEMON_CLAIM))
    elif record.claims.get(DAEMON_CLAIM) == PENDING:
        plan.adopt.append(DAEMON_CLAIM)
    plan.info["daemon_json_keys"] = owned_keys(cfg)
    if "storage_driver_before" not in record.info:
        before = _load_daemon_json(text).get("storage-driver")
        adopted = any(s.claim == pool_claim and s.argv[:2] == ("lvchange", "--addtag") for s in plan.steps)
        plan.info["storage_driver_before"] = None if adopted else before  # 0.1.0 set it: not the admin's
    legacy = st.files.get(LEGACY_STORAGE_ENV_FILE)
    if legacy is not None and legacy.startswith(HEADER):
        plan.steps.append(Step(remove=LEGACY_STORAGE_ENV_FILE, why="no longer written: the engine reads daemon.json"))
    for claim in record.half_made():
        if claim not in plan.adopt and not any(s.claim == claim for s in plan.steps):
            plan.drop.append(claim)  # a step that never ran: nothing was made
    return plan


def _made_by_0_1(cfg: Config, st: SystemState, record: State, profile: str) -> bool:
    """A pool made by version 0.1.0 (no tags, no record): its profile attached, the profile file with the
    tool's header, and daemon.json pointing at it."""
    return (record.empty and profile == profile_name(cfg) and (st.files.get(profile_path(cfg)) or "").startswith(HEADER)
            and _names_our_pool(st.files.get(DAEMON_JSON), cfg.vg, cfg))


def _adopt_0_1(cfg: Config, st: SystemState, plan: Plan, members: list[str]) -> None:
    """Tag and record what 0.1.0 made. The VG (and its PVs, its loop file) only when nothing else could have
    made it: all its PVs are the configured devices (or the loop device) and it holds only the pool."""
    plan.cmd("lvchange", "--addtag", TAG, f"{cfg.vg}/{cfg.pool}", why="adopt the pool made by version 0.1.0",
             claim=f"lv:{cfg.vg}/{cfg.pool}")
    plan.adopt += [f"file:{profile_path(cfg)}", DAEMON_CLAIM]
    configured = {d.real for d in (st.device(p) for p in cfg.devs) if d is not None}
    if cfg.loopback_file and st.loop_device:
        configured.add(st.loop_device)
    if (st.vg_pvs and set(st.vg_pvs) <= configured and [lv.name for lv in st.lvs] == [cfg.pool]
            and TAG not in st.vg_tags and not members):
        plan.cmd("vgchange", "--addtag", TAG, cfg.vg, why="adopt the volume group made by version 0.1.0",
                 claim=f"vg:{cfg.vg}")
        plan.adopt += [f"pv:{pv}" for pv in st.vg_pvs if pv != st.loop_device]
        if cfg.loopback_file and st.loop_device:
            plan.adopt.append(f"loop:{cfg.loopback_file}")
    else:
        plan.notes.append(f"volume group {cfg.vg} was not made for the pool alone (or not on DEVS): only the pool "
                          "is adopted; teardown will keep the volume group")


# --------------------------------------------------------------------------- teardown


def plan_teardown(cfg: Config, st: SystemState, record: State | None = None) -> Plan:
    """Remove what the tool created, and nothing else."""
    record = record if record is not None else State(path="")
    plan = Plan()
    check_record(cfg, record)
    try:
        cfg = resolve_vg(cfg, st, record)
    except SetupError:
        cfg = cfg.with_vg("")
    vg = cfg.vg
    removed: list[str] = []
    for lv_name, what in ((cfg.pool, "thin pool"), (cfg.root_lv_name, "container root LV")):
        if not lv_name or not vg:
            continue
        claim = f"lv:{vg}/{lv_name}"
        lv = st.lv(lv_name)
        if lv is None:
            if record.has(claim):
                plan.drop.append(claim)
            continue
        if TAG not in lv.tags:
            raise SetupError(f"{what} {vg}/{lv_name} was not created by {PROG} (it has no '{TAG}' tag); refusing "
                             f"to remove it. Remove it yourself (lvremove {vg}/{lv_name}) if that is what you want")
        if lv_name == cfg.root_lv_name and cfg.root_lv_mount in st.mounted:
            plan.cmd("umount", cfg.root_lv_mount, why="unmount the container root LV")
        elif lv.open:
            raise SetupError(f"{what} {vg}/{lv_name} is in use; stop the engine (systemctl stop docker) first")
        plan.cmd("lvremove", "--yes", f"{vg}/{lv_name}", why=f"remove the {what}", release=claim)
        removed.append(lv_name)
    others = [lv.name for lv in st.lvs if lv.name not in removed]
    vg_claim = f"vg:{vg}"
    loop_claim = f"loop:{cfg.loopback_file}" if cfg.loopback_file else ""
    loop_owned = bool(loop_claim) and record.has(loop_claim)
    vg_gone = not st.vg_exists
    if st.vg_exists and TAG in st.vg_tags:
        if others:
            plan.notes.append(f"volume group {vg} was created by {PROG} but holds other logical volumes "
                              f"({', '.join(others)}): kept, with its physical volumes")
        else:
            # no --yes: should an LV appear meanwhile, vgremove asks, reads no answer and refuses
            plan.cmd("vgremove", vg, why="remove the volume group", release=vg_claim)
            vg_gone = True
            for pv in st.vg_pvs:
                ours = record.has(f"pv:{pv}") or (pv == st.loop_device and loop_owned)
                if ours:
                    plan.cmd("pvremove", "--yes", pv, why="clear the LVM label", release=f"pv:{pv}")
                    plan.cmd("wipefs", "--all", pv, why="leave the device blank")
                else:
                    plan.notes.append(f"{pv}: LVM label kept (not recorded as labelled by {PROG})")
    elif st.vg_exists:
        plan.notes.append(f"volume group {vg} existed before {PROG}: kept (only the tool's own LVs are removed)")
        for pv in record.of_kind("pv"):
            if pv in st.vg_pvs:
                plan.notes.append(f"{pv} was added to {vg} by {PROG} (add-dev): kept in the volume group")
    elif record.has(vg_claim):
        plan.drop.append(vg_claim)
    if vg_gone:
        for pv in record.of_kind("pv"):
            dev = st.device(pv)
            if pv in st.vg_pvs:
                continue  # handled above
            if dev is not None and dev.pv_vg == "":
                plan.cmd("pvremove", "--yes", pv, why="clear the LVM label (a half-made setup)", release=f"pv:{pv}")
                plan.cmd("wipefs", "--all", pv, why="leave the device blank")
            else:
                plan.drop.append(f"pv:{pv}")
        if loop_owned:
            if st.loop_device:
                dev = st.device(st.loop_device)
                if dev is not None and dev.pv_vg == "" and st.loop_device not in st.vg_pvs:
                    plan.cmd("pvremove", "--yes", st.loop_device, why="clear the LVM label (a half-made setup)")
                plan.cmd("losetup", "--detach", st.loop_device, why="detach the backing file")
            if st.loopfile_exists:
                plan.steps.append(Step(remove=cfg.loopback_file, why="the backing file", release=loop_claim))
            else:
                plan.drop.append(loop_claim)
    elif loop_owned:
        plan.notes.append(f"{cfg.loopback_file}: kept (volume group {vg} is kept)")
    # files
    prof = profile_path(cfg)
    text = st.files.get(prof)
    if text is not None and text.startswith(HEADER):  # one profile per named config: never shared
        plan.steps.append(Step(remove=prof, why="the autoextend profile", release=f"file:{prof}"))
    elif record.has(f"file:{prof}"):
        plan.drop.append(f"file:{prof}")
    legacy = st.files.get(LEGACY_STORAGE_ENV_FILE)
    if legacy is not None and legacy.startswith(HEADER):
        plan.steps.append(Step(remove=LEGACY_STORAGE_ENV_FILE, why="written by an older version"))
    if record.has(DAEMON_CLAIM) or (record.empty and vg and _names_our_pool(st.files.get(DAEMON_JSON), vg, cfg)):
        keys = list(record.info.get("daemon_json_keys") or owned_keys(cfg))
        new = unmerge_daemon_json(st.files.get(DAEMON_JSON), keys, record.info.get("storage_driver_before"))
        if new is not None:
            plan.steps.append(Step(write=(DAEMON_JSON, new), why="drop the tool's storage keys", release=DAEMON_CLAIM))
        else:
            plan.drop.append(DAEMON_CLAIM)
    if removed:
        plan.notes.append("the engine's state in /var/lib/docker refers to the removed pool; clear it before reuse")
    plan.drop = sorted(set(plan.drop) & set(record.claims))
    return plan


def _names_our_pool(text: str | None, vg: str, cfg: Config) -> bool:
    """Without a record: daemon.json points at this config's pool (written by an older version)."""
    try:
        data = _load_daemon_json(text)
    except SetupError:
        return False
    return f"dm.thinpooldev={pool_device(vg, cfg.pool)}" in data.get("storage-opts", [])
