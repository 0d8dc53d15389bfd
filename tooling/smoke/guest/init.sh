#!/bin/sh
# Forklift smoke VM: PID 1 on the Debian test image. Mounts the basics, starts
# udev, mounts the payload disk (serial "payload": checks, storage tool,
# engine under test), runs the checks with the settings in /forklift/env and
# powers off. Verdict lines go to the serial console.
export PATH=/forklift/root/usr/bin:/forklift/root/usr/sbin:/forklift/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mountpoint -q /dev || mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -o remount,rw /
hostname forklift-smoke
echo "FORKLIFT-BOOTED $(cut -d' ' -f1 /proc/uptime)"
for m in dm_thin_pool xfs loop overlay; do modprobe "$m"; done
/lib/systemd/systemd-udevd --daemon
udevadm trigger --action=add
udevadm settle --timeout=30
mount -o ro /dev/disk/by-id/virtio-payload /forklift || echo "FORKLIFT-END failed=[mount-payload]"
set -a
[ -f /forklift/env ] && . /forklift/env
set +a
# Fedora-built binaries look for libdevmapper.so.1.02; Debian names it .so.1.02.1
export LD_LIBRARY_PATH=/forklift/compat
sh /forklift/checks.sh
sync
echo "FORKLIFT-POWEROFF $(cut -d' ' -f1 /proc/uptime)"
echo o > /proc/sysrq-trigger
sleep 5
busybox poweroff -f
