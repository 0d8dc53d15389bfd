"""Planning (pure): from the probed system and the ownership record to steps; every refusal first."""

from __future__ import annotations

import json

import pytest
from moby_dm_storage_setup import DAEMON_JSON, LEGACY_STORAGE_ENV_FILE, SetupError
from moby_dm_storage_setup.config import load_config
from moby_dm_storage_setup.plan import merge_daemon_json, plan_setup, plan_teardown, unmerge_daemon_json
from moby_dm_storage_setup.probe import LvInfo, RootInfo

from tests.storage.conftest import TAG, dev, pool, record, system

PROFILE = "/etc/lvm/profile/docker-thinpool.profile"


def test_fresh_disk_is_labelled_tagged_and_recorded() -> None:
    cfg = load_config("DEVS=/dev/vdb\nVG=docker\nCHUNK_SIZE=256K\nPOOL_META_SIZE=64M\n")
    plan = plan_setup(cfg, system(devices=(dev(),), files={DAEMON_JSON: '{"debug": true}'}))
    assert plan.commands == [
        ["pvcreate", "--yes", "/dev/vdb"],
        ["vgcreate", "--addtag", TAG, "docker", "/dev/vdb"],
        ["lvcreate", "--yes", "--type", "thin-pool", "--zero", "n", "--chunksize", "256K",
         "--poolmetadatasize", "64M", "--extents", "40%FREE", "--addtag", TAG, "--name", "thinpool", "docker"],
        ["lvchange", "--metadataprofile", "docker-thinpool", "docker/thinpool"],
    ]
    claims = [s.claim for s in plan.steps if s.claim]
    assert claims == ["pv:/dev/vdb", "vg:docker", f"file:{PROFILE}", "lv:docker/thinpool",
                      "daemon-json:storage-opts"]
    daemon = json.loads(plan.writes[DAEMON_JSON])
    assert daemon["debug"] is True and daemon["storage-driver"] == "devicemapper"
    assert "dm.thinpooldev=/dev/mapper/docker-thinpool" in daemon["storage-opts"]
    assert "thin_pool_autoextend_threshold=60" in plan.writes[PROFILE]
    assert LEGACY_STORAGE_ENV_FILE not in plan.writes


def test_symlinked_device_is_used_by_its_real_name() -> None:
    cfg = load_config("DEVS=/dev/disk/by-id/virtio-pool\n")
    plan = plan_setup(cfg, system(devices=(dev("/dev/disk/by-id/virtio-pool", real="/dev/vdc"),)))
    assert ["pvcreate", "--yes", "/dev/vdc"] in plan.commands


@pytest.mark.parametrize(
    ("device", "words"),
    [
        (dict(exists=False, is_block=False), ["/dev/vdb", "does not exist"]),
        (dict(is_block=False), ["/dev/vdb", "not a block device"]),
        (dict(mounts=("/srv",)), ["/dev/vdb", "mounted", "/srv"]),
        (dict(mounts=("swap",)), ["/dev/vdb", "mounted", "swap"]),
        (dict(busy=True), ["/dev/vdb", "in use"]),
        (dict(holders=("dm-3",)), ["/dev/vdb", "in use by dm-3"]),
        (dict(signatures=("linux_raid_member",)), ["/dev/vdb", "MD RAID member"]),
        (dict(holders=("md127",)), ["/dev/vdb", "MD RAID member", "md127"]),
        (dict(signatures=("crypto_LUKS",)), ["/dev/vdb", "LUKS"]),
        (dict(signatures=("dos",)), ["/dev/vdb", "partition table (dos)", "--wipe"]),
        (dict(signatures=("gpt", "PMBR")), ["/dev/vdb", "partition table"]),
        (dict(signatures=("xfs",)), ["/dev/vdb", "filesystem or other signature (xfs)"]),
        (dict(signatures=("LVM2_member",), pv_vg=""), ["/dev/vdb", "LVM physical volume label"]),
        (dict(signatures=("LVM2_member",), pv_vg="fedora"), ["/dev/vdb", "volume group fedora"]),
        (dict(path="/dev/vdb1", real="/dev/vdb1", partition_of="/dev/vdb"),
         ["/dev/vdb1", "partition of /dev/vdb", "ALLOW_PARTITIONS=true"]),
    ],
)
def test_refusals_name_the_device_and_the_reason(device: dict[str, object], words: list[str]) -> None:
    path = str(device.get("path", "/dev/vdb"))
    cfg = load_config(f"DEVS={path}\n")
    with pytest.raises(SetupError) as err:
        plan_setup(cfg, system(devices=(dev(**device),)))  # type: ignore[arg-type]
    for w in words:
        assert w in str(err.value)


def test_wipe_overrides_signatures_but_never_md_luks_or_use() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    plan = plan_setup(cfg, system(devices=(dev(signatures=("xfs",)),)), wipe=True)
    assert plan.commands[:2] == [["wipefs", "--all", "/dev/vdb"], ["pvcreate", "--yes", "/dev/vdb"]]
    assert plan.steps[0].claim == "pv:/dev/vdb"  # recorded before the wipe
    for bad in (dict(signatures=("crypto_LUKS",)), dict(signatures=("linux_raid_member",)), dict(mounts=("/x",)),
                dict(busy=True)):
        with pytest.raises(SetupError):
            plan_setup(cfg, system(devices=(dev(**bad),)), wipe=True)  # type: ignore[arg-type]


def test_partition_allowed_when_configured() -> None:
    cfg = load_config("DEVS=/dev/vdb1\nALLOW_PARTITIONS=true\n")
    plan = plan_setup(cfg, system(devices=(dev("/dev/vdb1", partition_of="/dev/vdb"),)))
    assert ["pvcreate", "--yes", "/dev/vdb1"] in plan.commands


def test_min_data_size_checked_before_anything() -> None:
    cfg = load_config("DEVS=/dev/vdb\nMIN_DATA_SIZE=8G\n")
    with pytest.raises(SetupError, match="MIN_DATA_SIZE"):
        plan_setup(cfg, system(devices=(dev(size=10 << 30),)))
    with pytest.raises(SetupError, match="more than the"):
        plan_setup(load_config("VG=fedora\nDATA_SIZE=50G\n"), system(vg_exists=True, vg_free_bytes=10 << 30))


def test_second_setup_creates_nothing() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    text = merge_daemon_json(None, cfg)
    done = system(devices=(dev(signatures=("LVM2_member",), pv_vg="docker"),), vg_exists=True, vg_tags=(TAG,),
                  vg_free_bytes=1 << 30, lvs=(pool(),), vg_pvs=("/dev/vdb",),
                  files={DAEMON_JSON: text, PROFILE: plan_setup(cfg, system(devices=(dev(),))).writes[PROFILE]})
    plan = plan_setup(cfg, done, record(claims={"vg:docker": "done", "lv:docker/thinpool": "done"}))
    assert plan.steps == []


def test_pre_existing_vg_gets_only_a_tagged_pool() -> None:
    cfg = load_config("VG=fedora\nDATA_SIZE=2G\n")
    st = system(vg_exists=True, vg_free_bytes=20 << 30, lvs=(LvInfo("root"), LvInfo("swap")), vg_pvs=("/dev/vda2",))
    plan = plan_setup(cfg, st)
    assert [c[0] for c in plan.commands] == ["lvcreate", "lvchange"]
    assert TAG in plan.commands[0] and plan.commands[0][-1] == "fedora"


def test_setup_refuses_a_pool_it_did_not_create() -> None:
    cfg = load_config("VG=fedora\n")
    with pytest.raises(SetupError, match=r"not created by moby-dm-storage-setup.*lvchange --addtag"):
        plan_setup(cfg, system(vg_exists=True, lvs=(pool(ours=False),)))


# ------------------------------------------------------------------ teardown


def test_teardown_in_the_root_vg_removes_only_the_pool() -> None:
    """The issue's defect: VG=fedora planned vgremove fedora, pvremove and wipefs."""
    cfg = load_config("VG=fedora\n")
    st = system(vg_exists=True, lvs=(LvInfo("root"), LvInfo("swap"), pool()), vg_pvs=("/dev/vda2",),
                devices=(dev("/dev/vda2", pv_vg="fedora"),))
    plan = plan_teardown(cfg, st, record(claims={"lv:fedora/thinpool": "done"}))
    assert plan.commands == [["lvremove", "--yes", "fedora/thinpool"]]
    assert any("existed before" in n for n in plan.notes)


def test_teardown_refuses_a_pool_it_did_not_create() -> None:
    cfg = load_config("VG=fedora\n")
    with pytest.raises(SetupError) as err:
        plan_teardown(cfg, system(vg_exists=True, lvs=(pool(ours=False),)))
    assert "fedora/thinpool was not created by moby-dm-storage-setup" in str(err.value)
    assert "refusing to remove it" in str(err.value)


def test_teardown_keeps_its_own_vg_when_it_holds_another_lv() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    st = system(vg_exists=True, vg_tags=(TAG,), lvs=(pool(), LvInfo("data")), vg_pvs=("/dev/vdb",))
    plan = plan_teardown(cfg, st, record(claims={"pv:/dev/vdb": "done", "vg:docker": "done",
                                                 "lv:docker/thinpool": "done"}))
    assert plan.commands == [["lvremove", "--yes", "docker/thinpool"]]
    assert any("holds other logical volumes (data)" in n for n in plan.notes)


def test_full_teardown_clears_only_recorded_pvs() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    st = system(vg_exists=True, vg_tags=(TAG,), lvs=(pool(),), vg_pvs=("/dev/vdb", "/dev/vdc"))
    plan = plan_teardown(cfg, st, record(claims={"pv:/dev/vdb": "done", "vg:docker": "done",
                                                 "lv:docker/thinpool": "done"}))
    assert plan.commands == [
        ["lvremove", "--yes", "docker/thinpool"],
        ["vgremove", "docker"],  # no --yes: an LV appearing meanwhile makes vgremove refuse
        ["pvremove", "--yes", "/dev/vdb"],
        ["wipefs", "--all", "/dev/vdb"],
    ]
    assert any("/dev/vdc: LVM label kept" in n for n in plan.notes)


def test_teardown_refuses_an_open_pool() -> None:
    with pytest.raises(SetupError, match="in use; stop the engine"):
        plan_teardown(load_config("DEVS=vdb\n"), system(vg_exists=True, vg_tags=(TAG,),
                                                        lvs=(pool(attr="twi-aotz--"),)))


def test_second_teardown_is_a_no_op() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    plan = plan_teardown(cfg, system(devices=(dev(),), files={DAEMON_JSON: '{"debug": true}\n'}), record())
    assert plan.steps == [] and plan.drop == []


def test_teardown_finishes_a_half_made_setup() -> None:
    """Killed after pvcreate: no VG yet, the device is an orphan PV recorded as pending."""
    cfg = load_config("DEVS=/dev/vdb\n")
    st = system(devices=(dev(signatures=("LVM2_member",), pv_vg=""),))
    plan = plan_teardown(cfg, st, record(claims={"pv:/dev/vdb": "pending"}))
    assert plan.commands == [["pvremove", "--yes", "/dev/vdb"], ["wipefs", "--all", "/dev/vdb"]]


# ------------------------------------------------------------------ resuming a killed setup


def test_setup_resumes_after_pvcreate() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    st = system(devices=(dev(signatures=("LVM2_member",), pv_vg=""),))
    plan = plan_setup(cfg, st, record(claims={"pv:/dev/vdb": "pending"}))
    assert plan.commands[0] == ["vgcreate", "--addtag", TAG, "docker", "/dev/vdb"]
    assert plan.adopt == ["pv:/dev/vdb"]


def test_setup_resumes_after_wipefs() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    plan = plan_setup(cfg, system(devices=(dev(),)), record(claims={"pv:/dev/vdb": "pending"}))
    assert plan.commands[:2] == [["pvcreate", "--yes", "/dev/vdb"], ["vgcreate", "--addtag", TAG, "docker",
                                                                       "/dev/vdb"]]


def test_setup_resumes_after_vgcreate_and_lvcreate() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    st = system(devices=(dev(signatures=("LVM2_member",), pv_vg="docker"),), vg_exists=True, vg_tags=(TAG,),
                vg_free_bytes=9 << 30, lvs=(pool(profile=""),), vg_pvs=("/dev/vdb",))
    plan = plan_setup(cfg, st, record(claims={"pv:/dev/vdb": "done", "vg:docker": "done",
                                              "lv:docker/thinpool": "pending"}))
    assert [c[0] for c in plan.commands] == ["lvchange"]
    assert "lv:docker/thinpool" in plan.adopt


def test_orphan_pv_not_in_the_record_is_refused() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    with pytest.raises(SetupError, match="LVM physical volume label"):
        plan_setup(cfg, system(devices=(dev(signatures=("LVM2_member",), pv_vg=""),)), record())


# ------------------------------------------------------------------ the engine's daemon.json


def test_daemon_json_keeps_the_admins_storage_opts() -> None:
    cfg = load_config("DEVS=/dev/vdb\nEXTRA_STORAGE_OPTIONS=dm.min_free_space=5%\n")
    admin = {"log-level": "warn", "storage-opts": ["dm.basesize=20G", "dm.fs=ext4", "dm.thinpooldev=/dev/x"]}
    merged = json.loads(merge_daemon_json(json.dumps(admin), cfg))
    assert merged["log-level"] == "warn"
    opts = merged["storage-opts"]
    assert "dm.basesize=20G" in opts
    assert "dm.fs=xfs" in opts and "dm.fs=ext4" not in opts  # the tool's key replaced
    assert [o for o in opts if o.startswith("dm.thinpooldev=")] == ["dm.thinpooldev=/dev/mapper/docker-thinpool"]
    assert "dm.min_free_space=5%" in opts
    back = json.loads(unmerge_daemon_json(json.dumps(merged), ["dm.fs", "dm.thinpooldev", "dm.use_deferred_removal",
                                                               "dm.use_deferred_deletion", "dm.min_free_space"],
                                          "overlay2") or "{}")
    assert back == {"log-level": "warn", "storage-opts": ["dm.basesize=20G"], "storage-driver": "overlay2"}


def test_teardown_restores_daemon_json_from_the_record() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    text = merge_daemon_json('{"storage-opts": ["dm.basesize=20G"]}', cfg)
    rec = record(claims={"daemon-json:storage-opts": "done"}, daemon_json_keys=["dm.fs", "dm.thinpooldev",
                 "dm.use_deferred_deletion", "dm.use_deferred_removal"], storage_driver_before=None)
    plan = plan_teardown(cfg, system(files={DAEMON_JSON: text}), rec)
    assert json.loads(plan.writes[DAEMON_JSON]) == {"storage-opts": ["dm.basesize=20G"]}


def test_invalid_daemon_json_is_reported() -> None:
    with pytest.raises(SetupError, match=r"daemon\.json: not valid JSON"):
        merge_daemon_json("{nope", load_config("DEVS=vdb\n"))
    with pytest.raises(SetupError, match="storage-opts must be a list"):
        merge_daemon_json('{"storage-opts": "dm.basesize=1G"}', load_config("DEVS=vdb\n"))


def test_legacy_docker_storage_removed_only_when_the_tool_wrote_it() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    ours = "# written by moby-dm-storage-setup; ...\nDOCKER_STORAGE_OPTIONS=...\n"
    plan = plan_setup(cfg, system(devices=(dev(),), files={LEGACY_STORAGE_ENV_FILE: ours}))
    assert LEGACY_STORAGE_ENV_FILE in plan.removes
    plan = plan_setup(cfg, system(devices=(dev(),), files={LEGACY_STORAGE_ENV_FILE: "DOCKER_STORAGE_OPTIONS=x\n"}))
    assert LEGACY_STORAGE_ENV_FILE not in plan.removes


# ------------------------------------------------------------------ container-storage-setup parity


ROOT = RootInfo(vg="fedora", lv="root", lv_size=10 << 30, pvs=("/dev/vda2",), growpart=(("/dev/vda", "2"),))


def test_root_vg_used_when_no_device_is_given() -> None:
    cfg = load_config("DATA_SIZE=20%FREE\n")
    st = system(vg="fedora", vg_exists=True, vg_free_bytes=50 << 30, lvs=(LvInfo("root"),), root=ROOT)
    plan = plan_setup(cfg, st)
    assert plan.commands[0][-1] == "fedora" and plan.commands[0][0] == "lvcreate"
    assert plan.info["vg"] == "fedora"


def test_no_device_and_no_lvm_root_is_an_error() -> None:
    with pytest.raises(SetupError, match="/ is not on LVM"):
        plan_setup(load_config(""), system())


def test_growpart_and_root_size() -> None:
    cfg = load_config("GROWPART=true\nROOT_SIZE=20G\n")
    st = system(vg="fedora", vg_exists=True, vg_free_bytes=50 << 30, lvs=(LvInfo("root"),), root=ROOT)
    cmds = plan_setup(cfg, st).commands
    assert cmds[:3] == [["growpart", "/dev/vda", "2"], ["pvresize", "/dev/vda2"],
                        ["lvextend", "--resizefs", "--size", "20G", "fedora/root"]]
    big = load_config("ROOT_SIZE=5G\n")
    assert not any(c[0] == "lvextend" for c in plan_setup(big, st).commands)  # never shrinks


def test_growpart_refused_outside_the_root_vg() -> None:
    cfg = load_config("VG=data\nGROWPART=true\n")
    with pytest.raises(SetupError, match="GROWPART: applies to the root volume group only"):
        plan_setup(cfg, system(vg_exists=True, root=ROOT))


def test_container_root_lv() -> None:
    cfg = load_config("DEVS=/dev/vdb\nCONTAINER_ROOT_LV_NAME=dockerroot\nCONTAINER_ROOT_LV_SIZE=30%FREE\n"
                      "CONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker\n")
    cmds = plan_setup(cfg, system(devices=(dev(),))).commands
    assert ["lvcreate", "--yes", "--wipesignatures", "y", "--extents", "30%FREE", "--addtag", TAG, "--name",
            "dockerroot", "docker"] in cmds
    assert cmds[-3:] == [["mkfs.xfs", "-q", "/dev/docker/dockerroot"], ["mkdir", "-p", "/var/lib/docker"],
                         ["mount", "/dev/docker/dockerroot", "/var/lib/docker"]]
    st = system(vg_exists=True, vg_tags=(TAG,), lvs=(pool(), LvInfo("dockerroot", attr="-wi-ao----",
                                                                     tags=(TAG,), devnum="253:5")),
                mounted={"/var/lib/docker": "253:5"}, vg_pvs=("/dev/vdb",))
    down = plan_teardown(cfg, st, record(claims={"lv:docker/dockerroot": "done", "lv:docker/thinpool": "done",
                                                 "vg:docker": "done", "pv:/dev/vdb": "done"}))
    assert down.commands[:3] == [["lvremove", "--yes", "docker/thinpool"], ["umount", "/var/lib/docker"],
                                 ["lvremove", "--yes", "docker/dockerroot"]]


def test_container_root_lv_refuses_a_foreign_mount() -> None:
    cfg = load_config("DEVS=/dev/vdb\nCONTAINER_ROOT_LV_NAME=r\nCONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker\n")
    with pytest.raises(SetupError, match="something else is mounted there"):
        plan_setup(cfg, system(devices=(dev(),), mounted={"/var/lib/docker": "8:3"}))


def test_add_dev_extends_the_vg() -> None:
    from dataclasses import replace

    cfg = load_config("DEVS=/dev/vdb\n")
    st = system(devices=(dev(signatures=("LVM2_member",), pv_vg="docker"), dev("/dev/vdc")), vg_exists=True,
                vg_tags=(TAG,), vg_free_bytes=1 << 30, lvs=(pool(),), vg_pvs=("/dev/vdb",))
    plan = plan_setup(replace(cfg, devs=("/dev/vdb", "/dev/vdc")), st, record(claims={"vg:docker": "done"}))
    assert plan.commands[:2] == [["pvcreate", "--yes", "/dev/vdc"], ["vgextend", "docker", "/dev/vdc"]]
    assert plan.steps[0].claim == "pv:/dev/vdc"


def test_auto_extend_off_writes_no_profile() -> None:
    plan = plan_setup(load_config("DEVS=/dev/vdb\nAUTO_EXTEND_POOL=no\n"), system(devices=(dev(),)))
    assert PROFILE not in plan.writes and not any(c[0] == "lvchange" for c in plan.commands)


def test_a_record_of_another_pool_is_refused() -> None:
    rec = record(claims={"vg:docker": "done"}, vg="docker", pool="thinpool", config="/etc/a.conf")
    for plan in (plan_setup, plan_teardown):
        with pytest.raises(SetupError, match="records a setup of docker/thinpool"):
            plan(load_config("DEVS=/dev/vdc\nVG=other\n", "b.conf"), system(devices=(dev("/dev/vdc"),)), rec)


def test_setup_killed_after_writing_daemon_json_adopts_it() -> None:
    cfg = load_config("DEVS=/dev/vdb\n")
    st = system(devices=(dev(signatures=("LVM2_member",), pv_vg="docker"),), vg_exists=True, vg_tags=(TAG,),
                lvs=(pool(),), vg_pvs=("/dev/vdb",), files={DAEMON_JSON: merge_daemon_json(None, cfg)})
    rec = record(claims={"pv:/dev/vdb": "done", "vg:docker": "done", "lv:docker/thinpool": "done",
                         "daemon-json:storage-opts": "pending"})
    plan = plan_setup(cfg, st, rec)
    assert "daemon-json:storage-opts" in plan.adopt and "daemon-json:storage-opts" not in plan.drop


def _legacy_system(cfg_text: str, lvs: tuple[LvInfo, ...], vg_pvs: tuple[str, ...]) -> tuple[object, object]:
    cfg = load_config(cfg_text)
    prof = plan_setup(cfg, system(devices=(dev(),))).writes[PROFILE]
    daemon = merge_daemon_json('{"log-level": "warn"}', cfg)
    st = system(devices=(dev(signatures=("LVM2_member",), pv_vg=cfg.vg),), vg_exists=True, lvs=lvs, vg_pvs=vg_pvs,
                files={PROFILE: prof, DAEMON_JSON: daemon})
    return cfg, st


def test_upgrade_from_0_1_adopts_its_pool_and_vg() -> None:
    """0.1.0 made the VG and pool without tags or a record: 0.2.0's setup tags and records them."""
    cfg, st = _legacy_system("DEVS=/dev/vdb\n", (pool(ours=False),), ("/dev/vdb",))
    plan = plan_setup(cfg, st, record())  # type: ignore[arg-type]
    assert plan.commands == [["lvchange", "--addtag", TAG, "docker/thinpool"], ["vgchange", "--addtag", TAG, "docker"]]
    assert set(plan.adopt) >= {"pv:/dev/vdb", "daemon-json:storage-opts", f"file:{PROFILE}"}
    assert plan.info["storage_driver_before"] is None


def test_upgrade_from_0_1_in_a_shared_vg_adopts_only_the_pool() -> None:
    cfg, st = _legacy_system("DEVS=/dev/vdb\n", (pool(ours=False), LvInfo("data")), ("/dev/vdb",))
    plan = plan_setup(cfg, st, record())  # type: ignore[arg-type]
    assert plan.commands == [["lvchange", "--addtag", TAG, "docker/thinpool"]]
    assert "pv:/dev/vdb" not in plan.adopt and any("teardown will keep the volume group" in n for n in plan.notes)


def test_untagged_pool_without_0_1_traces_is_still_refused() -> None:
    cfg, st = _legacy_system("DEVS=/dev/vdb\n", (pool(ours=False, profile=""),), ("/dev/vdb",))
    with pytest.raises(SetupError, match="not created by"):
        plan_setup(cfg, st, record())  # type: ignore[arg-type]
