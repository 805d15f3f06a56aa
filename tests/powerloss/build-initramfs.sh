#!/usr/bin/env bash
# Builds the guest's initramfs (cpio newc, gzip -1):
#   /init                 tests/powerloss/guest/init
#   /bin/*                busybox-static applets (links; none for busybox itself)
#   /sbin/{dmsetup,mke2fs,mkfs.ext4,e2fsck}  the host's e2fsprogs/dmsetup + their libraries
#   /etc/mke2fs.conf
#   /lib/modules/*.ko     virtio + dm-mod + dm-log-writes (from the cache of setup.sh)
#   /bin/plwriter         the static workload writer
# Usage: build-initramfs.sh OUT.cpio.gz WRITER CACHE_DIR
set -euo pipefail
out="$1"
writer="$2"
cache="$3"
here="$(cd "$(dirname "$0")" && pwd)"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,mnt,tmp,lib/modules}

# Real tools first (they shadow busybox applets of the same name).
for t in dmsetup mke2fs e2fsck; do
  cp -L "$(command -v "$t")" "$root/sbin/$t"
done
ln -s mke2fs "$root/sbin/mkfs.ext4"
cp /etc/mke2fs.conf "$root/etc/"
for t in dmsetup mke2fs e2fsck; do
  ldd "$(command -v "$t")" | awk '/=> \//{print $3} /^\t\/lib/{print $1}'
done | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# The dynamic loader at the path the binaries ask for.
if [ ! -e "$root/lib64/ld-linux-x86-64.so.2" ]; then
  mkdir -p "$root/lib64"
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
fi

cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do
  [ "$a" = busybox ] && continue # a self-link makes busybox loop
  [ -e "$root/sbin/$a" ] && continue
  ln -s busybox "$root/bin/$a"
done

cp "$cache"/modules/*.ko "$root/lib/modules/"
cp "$writer" "$root/bin/plwriter"
cp "$here/guest/init" "$root/init"
chmod 755 "$root/init" "$root/bin/plwriter"

(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 | gzip -1) >"$out.tmp"
mv "$out.tmp" "$out"
