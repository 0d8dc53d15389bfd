"""Configuration parsing: every key, its bad values (a clear error naming file and key)."""

from __future__ import annotations

import pytest
from moby_dm_storage_setup import ConfigError
from moby_dm_storage_setup.config import load_config, parse_kv, read_config

from tests.storage.conftest import TREE


def test_parse_kv_quotes_comments_and_export() -> None:
    text = '# c\n\nexport VG="my vg"\nDEVS=\'/dev/vdb /dev/vdc\'  # trailing\nCHUNK_SIZE=1M\n'
    assert parse_kv(text) == {"VG": "my vg", "DEVS": "/dev/vdb /dev/vdc", "CHUNK_SIZE": "1M"}


BAD = [
    ("NOPE=1", ["unknown key NOPE", ":1"]),
    ("VG docker", ["expected KEY=value"]),
    ("DEVS=$(rm -rf /)", ["not supported"]),
    ("CHUNK_SIZE=100K", ["CHUNK_SIZE", "multiple of 64K"]),
    ("CHUNK_SIZE=2G", ["CHUNK_SIZE"]),
    ("DATA_SIZE=lots", ["DATA_SIZE", "N%FREE"]),
    ("DATA_SIZE=150%FREE", ["DATA_SIZE", "1-100"]),
    ("DATA_SIZE=0", ["DATA_SIZE", "more than 0"]),
    ("MIN_DATA_SIZE=2 G", ["MIN_DATA_SIZE", "size"]),
    ("POOL_META_SIZE=big", ["POOL_META_SIZE"]),
    ("POOL_AUTOEXTEND_THRESHOLD=30", ["POOL_AUTOEXTEND_THRESHOLD", "50 to 100"]),
    ("POOL_AUTOEXTEND_PERCENT=0", ["POOL_AUTOEXTEND_PERCENT", "1 to 1000"]),
    ("AUTO_EXTEND_POOL=sometimes", ["AUTO_EXTEND_POOL", "true or false"]),
    ("WIPE_SIGNATURES=maybe", ["WIPE_SIGNATURES"]),
    ("ALLOW_PARTITIONS=2", ["ALLOW_PARTITIONS", "true or false"]),
    ("STORAGE_DRIVER=overlay2", ["STORAGE_DRIVER", "devicemapper"]),
    ("VG=-bad", ["VG", "LVM name"]),
    ("CONTAINER_THINPOOL=", ["CONTAINER_THINPOOL", "empty"]),
    ("DEVS=/dev/vdb\nLOOPBACK_FILE=/x.img", ["either DEVS or LOOPBACK_FILE"]),
    ("LOOPBACK_FILE=pool.img", ["LOOPBACK_FILE", "absolute"]),
    ("DEVS=/dev/vdb vdb", ["twice"]),
    ("DEVS=/dev/../etc/x", ["DEVS", "not a device"]),
    ("EXTRA_STORAGE_OPTIONS=basesize", ["dm.KEY=VALUE"]),
    ("EXTRA_STORAGE_OPTIONS=dm.thinpooldev=/dev/mapper/x", ["dm.thinpooldev", "set by the tool"]),
    ('VG="unterminated', ["VG"]),
    ("DEVICE_WAIT_TIMEOUT=forever", ["DEVICE_WAIT_TIMEOUT"]),
    ("GROWPART=perhaps", ["GROWPART", "true or false"]),
    ("GROWPART=true\nDEVS=/dev/vdb", ["GROWPART", "root volume group"]),
    ("ROOT_SIZE=8%FREE", ["ROOT_SIZE", "size"]),
    ("ROOT_SIZE=0", ["ROOT_SIZE"]),
    ("ROOT_SIZE=20G\nLOOPBACK_FILE=/var/x.img", ["ROOT_SIZE", "root volume group"]),
    ("CONTAINER_ROOT_LV_NAME=dockerroot", ["CONTAINER_ROOT_LV_MOUNT_PATH", "must be set"]),
    ("CONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker", ["CONTAINER_ROOT_LV_NAME", "must be set"]),
    ("CONTAINER_ROOT_LV_NAME=-x\nCONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker", ["CONTAINER_ROOT_LV_NAME", "LVM"]),
    ("CONTAINER_ROOT_LV_NAME=thinpool\nCONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker", ["same name"]),
    ("CONTAINER_ROOT_LV_NAME=r\nCONTAINER_ROOT_LV_MOUNT_PATH=var/lib/docker", ["MOUNT_PATH", "absolute"]),
    ("CONTAINER_ROOT_LV_NAME=r\nCONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/../etc", ["MOUNT_PATH"]),
    ("CONTAINER_ROOT_LV_NAME=r\nCONTAINER_ROOT_LV_MOUNT_PATH=/usr", ["MOUNT_PATH", "system directory"]),
    ("CONTAINER_ROOT_LV_NAME=r\nCONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker\nCONTAINER_ROOT_LV_SIZE=lots",
     ["CONTAINER_ROOT_LV_SIZE"]),
    ("CONTAINER_ROOT_LV_NAME=r\nCONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker\nCONTAINER_ROOT_LV_SIZE=101%VG",
     ["CONTAINER_ROOT_LV_SIZE", "1-100"]),
]


@pytest.mark.parametrize(("text", "words"), BAD, ids=[t.split("=")[0] + str(i) for i, (t, _) in enumerate(BAD)])
def test_bad_config_is_a_clear_error(text: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(text, "cfg")
    message = str(err.value)
    for w in words:
        assert w in message
    assert message.startswith("cfg")
    assert "\n" not in message


def test_defaults_and_short_device_names() -> None:
    cfg = load_config("DEVS=vdb /dev/disk/by-id/virtio-pool\nVG=dock-er\n")
    assert cfg.devs == ("/dev/vdb", "/dev/disk/by-id/virtio-pool")
    assert cfg.chunk_size == "512K" and cfg.data_size == "40%FREE"
    assert cfg.autoextend_threshold == 60 and cfg.autoextend_percent == 20 and cfg.auto_extend
    assert not cfg.allow_partitions


def test_vg_defaults_to_docker_with_devices_and_to_the_root_vg_without() -> None:
    assert load_config("DEVS=vdb\n").vg == "docker"
    assert load_config("LOOPBACK_FILE=/var/lib/x.img\n").vg == "docker"
    root = load_config("ROOT_SIZE=20g\nGROWPART=yes\n")
    assert root.vg == "" and root.use_root_vg and root.root_size == "20G" and root.growpart


def test_container_root_lv_keys() -> None:
    cfg = load_config("CONTAINER_ROOT_LV_NAME=dockerroot\nCONTAINER_ROOT_LV_MOUNT_PATH=/var/lib/docker/\n"
                      "CONTAINER_ROOT_LV_SIZE=20%free\nVG=v\n")
    assert (cfg.root_lv_name, cfg.root_lv_mount, cfg.root_lv_size) == ("dockerroot", "/var/lib/docker", "20%FREE")


def test_shipped_config_file_parses() -> None:
    cfg = read_config(str(TREE / "moby-dm-storage-setup.conf"))
    assert cfg.enabled and cfg.vg == "docker" and cfg.devs == ()


def test_missing_config_file(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_config(f"{tmp_path}/none.conf")
