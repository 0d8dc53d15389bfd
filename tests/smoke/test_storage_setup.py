"""moby-dm-storage-setup on the host: configuration parsing and the planned
commands (pure), plus the CLI's refusals. Real LVM behaviour is tested in the
VM (test_vm.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.smoke.conftest import TOOL

FRESH = dict(vg_exists=False, vg_free_bytes=0, pool_exists=False)


def dev(tool: ModuleType, path: str = "/dev/vdb", **kw: Any) -> Any:
    base: dict[str, object] = dict(path=path, real=path, exists=True, is_block=True, signatures=(), pv_vg=None,
                                   size=10 << 30)
    base.update(kw)
    return tool.DeviceState(**base)


def test_parse_kv_quotes_comments_and_export(tool: ModuleType) -> None:
    text = '# c\n\nexport VG="my vg"\nDEVS=\'/dev/vdb /dev/vdc\'  # trailing\nCHUNK_SIZE=1M\n'
    assert tool.parse_kv(text) == {"VG": "my vg", "DEVS": "/dev/vdb /dev/vdc", "CHUNK_SIZE": "1M"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("NOPE=1", ["unknown key NOPE", ":1"]),
        ("VG docker", ["expected KEY=value"]),
        ("DEVS=$(rm -rf /)", ["not supported"]),
        ("CHUNK_SIZE=100K", ["CHUNK_SIZE", "multiple of 64K"]),
        ("CHUNK_SIZE=2G", ["CHUNK_SIZE"]),
        ("DATA_SIZE=lots", ["DATA_SIZE", "expected a size"]),
        ("DATA_SIZE=150%FREE", ["DATA_SIZE", "1-100"]),
        ("POOL_AUTOEXTEND_THRESHOLD=30", ["POOL_AUTOEXTEND_THRESHOLD", "50 to 100"]),
        ("WIPE_SIGNATURES=maybe", ["WIPE_SIGNATURES"]),
        ("STORAGE_DRIVER=overlay2", ["STORAGE_DRIVER", "devicemapper"]),
        ("VG=-bad", ["VG", "LVM name"]),
        ("DEVS=/dev/vdb\nLOOPBACK_FILE=/x.img", ["either DEVS or LOOPBACK_FILE"]),
        ("DEVS=/dev/vdb vdb", ["twice"]),
        ("EXTRA_STORAGE_OPTIONS=basesize", ["dm.KEY=VALUE"]),
        ('VG="unterminated', ["VG"]),
    ],
)
def test_bad_config_is_a_clear_error(tool: ModuleType, text: str, words: list[str]) -> None:
    with pytest.raises(tool.ConfigError) as err:
        tool.load_config(text, "cfg")
    for w in words:
        assert w in str(err.value)
    assert str(err.value).startswith("cfg")


def test_defaults_and_short_device_names(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=vdb /dev/disk/by-id/virtio-pool\nVG=dock-er\n")
    assert cfg.devs == ("/dev/vdb", "/dev/disk/by-id/virtio-pool")
    assert cfg.chunk_size == "512K" and cfg.data_size == "40%FREE"
    assert cfg.autoextend_threshold == 60 and cfg.autoextend_percent == 20
    assert cfg.pool_device == "/dev/mapper/dock--er-thinpool"


def test_shipped_config_file_parses(tool: ModuleType) -> None:
    cfg = tool.load_config((TOOL.parent / "moby-dm-storage-setup.conf").read_text())
    assert cfg.enabled and cfg.vg == "docker"


def test_plan_fresh_disk(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=/dev/vdb\nVG=docker\nCHUNK_SIZE=256K\nPOOL_META_SIZE=64M\n")
    plan = tool.plan_setup(cfg, tool.SystemState(devices=(dev(tool),), **FRESH), daemon_json='{"debug": true}')
    assert plan.commands == [
        ["pvcreate", "--yes", "/dev/vdb"],
        ["vgcreate", "docker", "/dev/vdb"],
        ["lvcreate", "--yes", "--type", "thin-pool", "--zero", "n", "--chunksize", "256K",
         "--poolmetadatasize", "64M", "--extents", "40%FREE", "--name", "thinpool", "docker"],
        ["lvchange", "--metadataprofile", "docker-thinpool", "docker/thinpool"],
        ["lvchange", "--activate", "y", "docker/thinpool"],
    ]
    writes = {s.write[0]: s.write[1] for s in plan.steps if s.write}
    daemon = json.loads(writes["/etc/docker/daemon.json"])
    assert daemon["debug"] is True  # other keys kept
    assert daemon["storage-driver"] == "devicemapper"
    assert daemon["storage-opts"] == [
        "dm.thinpooldev=/dev/mapper/docker-thinpool", "dm.use_deferred_removal=true",
        "dm.use_deferred_deletion=true", "dm.fs=xfs",
    ]
    assert "thin_pool_autoextend_threshold=60" in writes["/etc/lvm/profile/docker-thinpool.profile"]
    assert "--storage-opt dm.thinpooldev=/dev/mapper/docker-thinpool" in writes["/etc/sysconfig/docker-storage"]


def test_plan_follows_symlinked_device(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=/dev/disk/by-id/virtio-pool\n")
    state = tool.SystemState(devices=(dev(tool, "/dev/disk/by-id/virtio-pool", real="/dev/vdc"),), **FRESH)
    assert ["pvcreate", "--yes", "/dev/vdc"] in tool.plan_setup(cfg, state).commands


def test_refuses_signatures_unless_wiping(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=/dev/vdb\n")
    state = tool.SystemState(devices=(dev(tool, signatures=("xfs",)),), **FRESH)
    with pytest.raises(tool.SetupError, match=r"carries signatures \(xfs\).*WIPE_SIGNATURES=true"):
        tool.plan_setup(cfg, state)
    assert tool.plan_setup(cfg, state, wipe=True).commands[0] == ["wipefs", "--all", "/dev/vdb"]
    wiping = tool.load_config("DEVS=/dev/vdb\nWIPE_SIGNATURES=yes\n")
    assert tool.plan_setup(wiping, state).commands[0] == ["wipefs", "--all", "/dev/vdb"]


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ({"exists": False, "is_block": False}, "does not exist"),
        ({"is_block": False}, "not a block device"),
        ({"pv_vg": "rootvg"}, "volume group rootvg"),
    ],
)
def test_refuses_unusable_devices(tool: ModuleType, device: dict[str, Any], message: str) -> None:
    cfg = tool.load_config("DEVS=/dev/vdb\n")
    with pytest.raises(tool.SetupError, match=message):
        tool.plan_setup(cfg, tool.SystemState(devices=(dev(tool, **device),), **FRESH))


def test_min_data_size_checked_before_touching_disks(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=/dev/vdb\nDATA_SIZE=40%FREE\nMIN_DATA_SIZE=2G\n")
    small = tool.SystemState(devices=(dev(tool, size=1 << 30),), **FRESH)
    with pytest.raises(tool.SetupError, match="MIN_DATA_SIZE"):
        tool.plan_setup(cfg, small)


def test_setup_is_idempotent(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=/dev/vdb\n")
    done = tool.SystemState(devices=(dev(tool, signatures=("LVM2_member",), pv_vg="docker"),),
                            vg_exists=True, vg_free_bytes=0, pool_exists=True)
    cmds = tool.plan_setup(cfg, done).commands
    assert [c[0] for c in cmds] == ["lvchange", "lvchange"]


def test_loop_plan(tool: ModuleType) -> None:
    cfg = tool.load_config("LOOPBACK_FILE=/var/lib/x/pool.img\nLOOPBACK_SIZE=4G\nMIN_DATA_SIZE=1G\n")
    cmds = tool.plan_setup(cfg, tool.SystemState(devices=(), **FRESH)).commands
    assert cmds[:4] == [
        ["truncate", "-s", str(4 << 30), "/var/lib/x/pool.img"],
        ["losetup", "--find", "--show", "/var/lib/x/pool.img"],
        ["pvcreate", "--yes", "@LOOP"],
        ["vgcreate", "docker", "@LOOP"],
    ]


def test_no_devices_and_no_vg_is_an_error(tool: ModuleType) -> None:
    with pytest.raises(tool.SetupError, match="DEVS"):
        tool.plan_setup(tool.load_config(""), tool.SystemState(devices=(), **FRESH))


def test_teardown_plan_and_in_use_refusal(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=/dev/vdb\n")
    state = tool.SystemState(devices=(dev(tool, pv_vg="docker"),), vg_exists=True, vg_free_bytes=0,
                             pool_exists=True)
    daemon = '{"debug": true, "storage-driver": "devicemapper", "storage-opts": ["dm.fs=xfs"]}'
    plan = tool.plan_teardown(cfg, state, daemon_json=daemon)
    assert plan.commands == [
        ["lvremove", "--yes", "docker/thinpool"], ["vgremove", "--yes", "docker"],
        ["pvremove", "--yes", "/dev/vdb"], ["wipefs", "--all", "/dev/vdb"],
    ]
    written = [s.write for s in plan.steps if s.write]
    assert json.loads(written[0][1]) == {"debug": True}
    busy = tool.SystemState(devices=(), vg_exists=True, vg_free_bytes=0, pool_exists=True, pool_open=True)
    with pytest.raises(tool.SetupError, match="in use"):
        tool.plan_teardown(cfg, busy)


def test_invalid_daemon_json_is_reported(tool: ModuleType) -> None:
    cfg = tool.load_config("DEVS=/dev/vdb\n")
    with pytest.raises(tool.SetupError, match=r"daemon\.json: not valid JSON"):
        tool.merge_daemon_json("{oops", cfg)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=60)


def test_cli_bad_config_exits_2_and_changes_nothing(tmp_path: object) -> None:
    conf = os.path.join(str(tmp_path), "c.conf")
    with open(conf, "w") as fh:
        fh.write("DEVS=/dev/vdb\nCHUNK_SIZE=100K\n")
    proc = _cli("--config", conf, "setup")
    assert proc.returncode == 2
    assert "CHUNK_SIZE" in proc.stderr and "nothing was changed" in proc.stderr
    missing = _cli("--config", os.path.join(str(tmp_path), "none"), "status")
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_cli_dry_run_prints_lvm_commands(tmp_path: object) -> None:
    """--dry-run on a loop config: nothing exists yet, so the whole plan is printed and nothing is created."""
    img = os.path.join(str(tmp_path), "pool.img")
    conf = os.path.join(str(tmp_path), "c.conf")
    with open(conf, "w") as fh:
        fh.write(f"LOOPBACK_FILE={img}\nVG=forkliftdry\nMIN_DATA_SIZE=1G\n")
    proc = _cli("--config", conf, "setup", "--dry-run")
    if "not found" in proc.stderr:
        pytest.skip(f"needs lvm2 and util-linux on the host: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert f"would run: losetup --find --show {img}" in proc.stdout
    assert "would run: lvcreate --yes --type thin-pool" in proc.stdout
    assert not os.path.exists(img)


def test_unit_file_orders_before_the_engine() -> None:
    import configparser

    unit = configparser.ConfigParser(strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(TOOL.parent / "moby-dm-storage-setup.service")
    assert unit["Service"]["Type"] == "oneshot" and unit["Service"]["RemainAfterExit"] == "yes"
    assert unit["Service"]["ExecStart"] == "/usr/bin/moby-dm-storage-setup setup"
    assert "docker.service" in unit["Unit"]["Before"].split()
    assert set(unit["Install"]["WantedBy"].split()) == {"multi-user.target", "docker.service"}


def test_spec_installs_the_tree_files_for_every_target(tmp_path: Path) -> None:
    from tests.conftest import require_tool
    from tooling import model, render
    from tooling.run import run

    require_tool("rpmspec")
    matrix = model.load()
    pkg = matrix.packages["moby-dm-storage-setup"]
    assert {s.file for s in pkg.sources if s.kind == "local"} >= {
        "moby-dm-storage-setup", "moby-dm-storage-setup.service", "moby-dm-storage-setup.conf"}
    for target in matrix.targets.values():
        spec = tmp_path / f"{target.name}.spec"
        spec.write_text(render.render_spec(matrix, target, pkg))
        parsed = run(["rpmspec", "-P", str(spec), *target.macro_args()]).stdout
        assert "BuildArch:      noarch" in parsed
        assert "%config(noreplace) /etc/sysconfig/moby-dm-storage-setup" in parsed
        for req in ("lvm2", "device-mapper-persistent-data", "xfsprogs"):
            assert f"Requires:       {req}" in parsed
