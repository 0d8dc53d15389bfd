#!/bin/sh
# Forklift smoke initramfs: load the root-disk modules, mount the root image
# (virtio disk labelled "root") and hand over to /sbin/forklift-init.
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
/bin/busybox mount -t devtmpfs dev /dev
for m in /modules/*.ko; do /bin/busybox insmod "$m" 2>/dev/null; done
echo "FORKLIFT-INITRD $(/bin/busybox cut -d' ' -f1 /proc/uptime)"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do /bin/busybox sleep 0.1; i=$((i + 1)); done
/bin/busybox mount -t ext4 /dev/vda /newroot || { echo "FORKLIFT-END failed=[mount-root]"; /bin/busybox poweroff -f; }
/bin/busybox mount --move /dev /newroot/dev
/bin/busybox umount /proc /sys
exec /bin/busybox switch_root /newroot /sbin/forklift-init
