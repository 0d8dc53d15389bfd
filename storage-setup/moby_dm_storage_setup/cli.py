"""The command line: setup, teardown, status, add-dev, and named configs (create, activate,
deactivate, remove, list). Exit codes: 0 ok, 1 refused or a command failed, 2 bad
configuration, 3 (status) not set up."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys

from moby_dm_storage_setup import (
    CONFIG_DIR,
    CONFIG_FILE,
    DAEMON_JSON,
    EXIT_CONFIG,
    EXIT_FAIL,
    EXIT_NOT_SET_UP,
    EXIT_OK,
    PROG,
    STATE_DIR,
    TAG,
    VERSION,
    ConfigError,
    SetupError,
)
from moby_dm_storage_setup import state as state_mod
from moby_dm_storage_setup.apply import execute
from moby_dm_storage_setup.config import Config, check_name, pool_device, read_config
from moby_dm_storage_setup.plan import Plan, plan_setup, plan_teardown, resolve_vg, unmerge_daemon_json
from moby_dm_storage_setup.probe import probe


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Provision the container engine's dm-thin storage.")
    p.add_argument("--version", action="version", version=f"{PROG} {VERSION}")
    p.add_argument("--config", default=CONFIG_FILE, help=f"configuration file (default {CONFIG_FILE})")
    p.add_argument("--config-dir", default=CONFIG_DIR, help=f"named configurations (default {CONFIG_DIR})")
    p.add_argument("--state-dir", default=STATE_DIR, help=f"ownership records (default {STATE_DIR})")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup", help="create the thin pool and write the engine's storage options")
    s.add_argument("--dry-run", action="store_true", help="print the steps, change nothing")
    s.add_argument("--wipe", action="store_true", help="wipe signatures on DEVS (destroys their data)")
    t = sub.add_parser("teardown", help="remove what this tool created (only that)")
    t.add_argument("--dry-run", action="store_true", help="print the steps, change nothing")
    sub.add_parser("status", help="show the pool, the ownership record and half-made steps; exit 3 when not set up")
    a = sub.add_parser("add-dev", help="add disks to the pool's volume group (the pool then grows into them)")
    a.add_argument("devices", nargs="+", metavar="DEVICE")
    a.add_argument("--name", help="a named configuration (default: --config)")
    a.add_argument("--dry-run", action="store_true")
    a.add_argument("--wipe", action="store_true", help="wipe signatures on the devices (destroys their data)")
    c = sub.add_parser("create", help="store a named configuration and set it up")
    c.add_argument("name")
    c.add_argument("source", metavar="CONFIG_FILE", help="the configuration to store as NAME")
    c.add_argument("--dry-run", action="store_true")
    for cmd, helptext in (("activate", "activate a named configuration's LVs and point the engine at its pool"),
                          ("deactivate", "deactivate a named configuration's LVs and drop its engine options"),
                          ("remove", "tear a named configuration down and delete it")):
        x = sub.add_parser(cmd, help=helptext)
        x.add_argument("name")
        x.add_argument("--dry-run", action="store_true")
    sub.add_parser("list", help="the named configurations and their state")
    return p


def _named(args: argparse.Namespace, name: str) -> Config:
    check_name(name)
    path = os.path.join(args.config_dir, f"{name}.conf")
    if not os.path.exists(path):
        raise SetupError(f"no configuration named {name} ({path}); create it with: {PROG} create {name} FILE")
    return read_config(path, name)


def _record(args: argparse.Namespace, cfg: Config) -> state_mod.State:
    return state_mod.load(state_mod.state_path(cfg.name, args.state_dir))


def _need_root(args: argparse.Namespace) -> None:
    if os.geteuid() != 0 and not getattr(args, "dry_run", False):
        raise SetupError("must run as root")


def setup(args: argparse.Namespace, cfg: Config, *, extra: tuple = (), wipe: bool = False) -> Plan:
    record = _record(args, cfg)
    if extra:
        cfg = dataclasses.replace(cfg, devs=(*cfg.devs, *extra))
    st = probe(resolve_vg_loose(cfg, record), wait=not args.dry_run, attach_loop=not args.dry_run)
    plan = plan_setup(cfg, st, record, wipe=wipe)
    execute(plan, record, dry_run=args.dry_run, out=sys.stdout)
    return plan


def resolve_vg_loose(cfg: Config, record: state_mod.State) -> Config:
    """VG from the config, else from the record (root-VG mode after setup); probe finds the root VG otherwise."""
    if not cfg.vg and record.info.get("vg"):
        return cfg.with_vg(str(record.info["vg"]))
    return cfg


def teardown(args: argparse.Namespace, cfg: Config) -> Plan:
    record = _record(args, cfg)
    cfg = resolve_vg_loose(cfg, record)
    st = probe(cfg, wait=False, extra_devices=tuple(record.of_kind("pv")))
    plan = plan_teardown(cfg, st, record)
    if not plan.steps and not plan.drop and not record.pending:
        print(f"nothing to tear down: nothing created by {PROG} is left ({cfg.name})")
        for note in plan.notes:
            print(f"note: {note}")
        return plan
    execute(plan, record, dry_run=args.dry_run, out=sys.stdout)
    return plan


def status(args: argparse.Namespace, cfg: Config) -> int:
    record = _record(args, cfg)
    cfg = resolve_vg_loose(cfg, record)
    st = probe(cfg, wait=False)
    try:
        cfg = resolve_vg(cfg, st, record)
    except SetupError as exc:
        print(f"{cfg.source}: {exc}")
        return EXIT_NOT_SET_UP
    pool = st.lv(cfg.pool)
    print(f"config: {cfg.source} ({cfg.name})")
    vg_own = "created by this tool" if TAG in st.vg_tags else "pre-existing"
    print(f"volume group {cfg.vg}: {(vg_own if st.vg_exists else 'absent')}")
    if pool is None:
        print(f"thin pool {cfg.vg}/{cfg.pool}: absent")
    else:
        own = "created by this tool" if TAG in pool.tags else f"NOT created by this tool (no {TAG} tag)"
        use = "in use" if pool.open else "active" if pool.active else "inactive"
        print(f"thin pool {cfg.vg}/{cfg.pool}: {own}, {use}, {pool.size} bytes, profile {pool.profile or '-'}")
    print(f"state file {record.path}: {'absent' if record.empty else 'what this tool created:'}")
    for claim, what in sorted(record.claims.items()):
        print(f"  {claim}: {what}")
    half = record.half_made()
    if record.pending or half:
        print(f"HALF-MADE: a run stopped during: {record.pending or '?'}")
        for claim in half:
            print(f"  may be half-made: {claim}")
        print(f"  run '{PROG} setup' to finish it, or '{PROG} teardown' to remove what was made")
    text = st.files.get(DAEMON_JSON)
    configured = False
    if text:
        try:
            data = json.loads(text)
            configured = data.get("storage-driver") == "devicemapper" and (
                f"dm.thinpooldev={pool_device(cfg.vg, cfg.pool)}" in data.get("storage-opts", [])
            )
        except (json.JSONDecodeError, AttributeError):
            print(f"{DAEMON_JSON}: not valid JSON")
    print(f"{DAEMON_JSON}: {'configured' if configured else 'not configured'} for {pool_device(cfg.vg, cfg.pool)}")
    ok = pool is not None and TAG in pool.tags and configured and not half and not record.pending
    return EXIT_OK if ok else EXIT_NOT_SET_UP


def deactivate(args: argparse.Namespace, cfg: Config) -> None:
    record = _record(args, cfg)
    cfg = resolve_vg_loose(cfg, record)
    st = probe(cfg, wait=False)
    cfg = resolve_vg(cfg, st, record)
    plan = Plan()
    pool = st.lv(cfg.pool)
    if pool is None or TAG not in pool.tags:
        raise SetupError(f"{cfg.name}: no thin pool {cfg.vg}/{cfg.pool} made by {PROG}; nothing to deactivate")
    if cfg.root_lv_name and cfg.root_lv_mount in st.mounted:
        plan.cmd("umount", cfg.root_lv_mount, why="unmount the container root LV")
    root_lv = st.lv(cfg.root_lv_name) if cfg.root_lv_name else None
    if root_lv is not None and root_lv.active:
        plan.cmd("lvchange", "--activate", "n", f"{cfg.vg}/{cfg.root_lv_name}", why="deactivate the root LV")
    if pool.open:
        raise SetupError(f"thin pool {cfg.vg}/{cfg.pool} is in use; stop the engine (systemctl stop docker) first")
    if pool.active:
        plan.cmd("lvchange", "--activate", "n", f"{cfg.vg}/{cfg.pool}", why="deactivate the pool")
    new = unmerge_daemon_json(st.files.get(DAEMON_JSON), list(record.info.get("daemon_json_keys") or []),
                              record.info.get("storage_driver_before"))
    if new is not None:
        from moby_dm_storage_setup.plan import DAEMON_CLAIM, Step

        plan.steps.append(Step(write=(DAEMON_JSON, new), why="the engine must not use an inactive pool",
                               release=DAEMON_CLAIM))
    execute(plan, record, dry_run=args.dry_run, out=sys.stdout)


def list_configs(args: argparse.Namespace) -> None:
    names = []
    if os.path.isdir(args.config_dir):
        names = sorted(f[:-5] for f in os.listdir(args.config_dir) if f.endswith(".conf"))
    print(f"{'NAME':<20} {'VG/POOL':<32} STATE")
    for name in ["default", *names]:
        try:
            cfg = read_config(args.config, "default") if name == "default" else _named(args, name)
        except (ConfigError, SetupError) as exc:
            print(f"{name:<20} {'-':<32} bad configuration: {exc}")
            continue
        record = _record(args, cfg)
        vg = cfg.vg or str(record.info.get("vg") or "(root VG)")
        what = ("half-made" if record.half_made() or record.pending else
                "created" if record.has(f"lv:{vg}/{cfg.pool}") else "not created")
        print(f"{name:<20} {vg + '/' + cfg.pool:<32} {what}")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        cmd = args.command
        if cmd == "list":
            list_configs(args)
            return EXIT_OK
        if cmd == "create":
            check_name(args.name)
            cfg = read_config(args.source, args.name)
            dest = os.path.join(args.config_dir, f"{args.name}.conf")
            if os.path.exists(dest):
                raise SetupError(f"a configuration named {args.name} exists ({dest}); remove it first")
            _need_root(args)
            if not args.dry_run:
                with open(args.source, encoding="utf-8") as fh:
                    state_mod.atomic_write(dest, fh.read())
                cfg = read_config(dest, args.name)
            setup(args, cfg)
            return EXIT_OK
        if cmd in ("activate", "deactivate", "remove") or (cmd == "add-dev" and args.name):
            cfg = _named(args, args.name)
        else:
            cfg = read_config(args.config)
        if cmd == "status":
            return status(args, cfg)
        _need_root(args)
        if cmd == "setup":
            setup(args, cfg, wipe=args.wipe)
        elif cmd == "activate":
            if not _record(args, cfg).claims:
                raise SetupError(f"{cfg.name} has not been created; run: {PROG} create {cfg.name} FILE")
            setup(args, cfg)
        elif cmd == "add-dev":
            record = _record(args, cfg)
            if not any(c.startswith("lv:") for c in record.claims):
                raise SetupError(f"{cfg.name}: no pool made by {PROG} yet; run setup first")
            for d in args.devices:
                if d in cfg.devs or "/dev/" + d in cfg.devs:
                    raise SetupError(f"{d} is already in DEVS of {cfg.source}")
            devs = tuple(d if d.startswith("/") else "/dev/" + d for d in args.devices)
            setup(args, cfg, extra=devs, wipe=args.wipe)
            print(f"note: add {' '.join(devs)} to DEVS in {cfg.source} to keep the configuration complete")
        elif cmd == "deactivate":
            deactivate(args, cfg)
        elif cmd in ("teardown", "remove"):
            teardown(args, cfg)
            if cmd == "remove" and not args.dry_run:
                os.unlink(cfg.source)
                print(f"removed configuration {cfg.source}")
        return EXIT_OK
    except ConfigError as exc:
        print(f"{PROG}: configuration error: {exc}\n{PROG}: nothing was changed", file=sys.stderr)
        return EXIT_CONFIG
    except SetupError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; '{PROG} status' shows what is half-made", file=sys.stderr)
        return EXIT_FAIL
