"""moby-dm-storage-setup: provision the container engine's storage on dm-thin.

One module per step: ``config`` (parse and validate the KEY=value file),
``probe`` (read the system: devices, LVM, files), ``plan`` (pure: what to do,
every refusal before the first change), ``apply`` (run the plan, recording
what was created in the state file), ``state`` (that record) and ``cli``.

Standard library only, Python 3.9+: it runs with /usr/bin/python3 on every
Fedora/RHEL target.
"""

from __future__ import annotations

PROG = "moby-dm-storage-setup"
VERSION = "0.2.0"
# LVM tag on every VG and LV the tool creates: teardown removes nothing without it.
TAG = "moby-dm-storage-setup"

CONFIG_FILE = "/etc/sysconfig/moby-dm-storage-setup"
CONFIG_DIR = "/etc/moby-dm-storage-setup"  # named configs: <CONFIG_DIR>/<name>.conf
STATE_DIR = "/var/lib/moby-dm-storage-setup"
DAEMON_JSON = "/etc/docker/daemon.json"
# Written by 0.1.0 only; removed by teardown when it carries our header (see docs/storage-setup.md).
LEGACY_STORAGE_ENV_FILE = "/etc/sysconfig/docker-storage"
PROFILE_DIR = "/etc/lvm/profile"
PROFILE_NAME = "docker-thinpool"
HEADER = f"# written by {PROG}"

EXIT_OK, EXIT_FAIL, EXIT_CONFIG, EXIT_NOT_SET_UP = 0, 1, 2, 3


class ConfigError(Exception):
    """Bad configuration: nothing has been touched."""


class SetupError(Exception):
    """A precondition or a command failed (the message names the device or command)."""
