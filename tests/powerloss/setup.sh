#!/usr/bin/env bash
# Installs what the power-loss test needs, idempotently, on a fresh Debian
# bookworm machine (run as root, or with passwordless sudo):
#   * Debian packages: qemu-system-x86 (with qemu-utils from the SAME release:
#     a newer qemu-utils from another release conflicts with bookworm's
#     qemu-system-common and would be removed), busybox-static, dmsetup,
#     e2fsprogs, cpio;
#   * the Rust target x86_64-unknown-linux-musl (static guest programs);
#   * a Debian cloud kernel, fetched with `apt-get download` and unpacked
#     into $PL_CACHE (default target/powerloss/cache) with `dpkg-deb -x`.
# Prints the kernel release it prepared.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${PL_CACHE:-$root/target/powerloss/cache}"
mkdir -p "$cache"

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
# A static busybox (the dynamic one of package busybox would need its libraries in the guest).
if ! [ -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1 || ! /bin/busybox --list | grep -qx insmod; then
  need_pkgs+=(busybox-static)
fi
command -v dmsetup >/dev/null || need_pkgs+=(dmsetup)
command -v debugfs >/dev/null && command -v e2fsck >/dev/null && command -v mkfs.ext4 >/dev/null || need_pkgs+=(e2fsprogs)
command -v cpio >/dev/null || need_pkgs+=(cpio)

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    sudo_ apt-get update -qq
    apt_updated=1
  fi
}

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  apt_update
  extra=()
  if [[ " ${need_pkgs[*]} " == *" qemu-system-x86 "* ]]; then
    # Take every qemu package from the release qemu-system-x86 comes from.
    qver="$(apt-cache policy qemu-system-x86 | sed -n 's/^ *Candidate: *//p')"
    common_ver="$(apt-cache show "qemu-system-x86=$qver" | sed -n 's/^Depends:.*qemu-system-common (= \([^)]*\)).*/\1/p' | head -1)"
    if dpkg-query -W -f='${Status}' qemu-utils 2>/dev/null | grep -q 'ok installed'; then
      extra+=("qemu-utils=${common_ver:-$qver}")
    fi
  fi
  echo "powerloss setup: installing ${need_pkgs[*]} ${extra[*]}" >&2
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends --allow-downgrades \
    "${need_pkgs[@]}" "${extra[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx x86_64-unknown-linux-musl; then
  rustup target add x86_64-unknown-linux-musl >&2
fi

# The kernel: the package linux-image-cloud-amd64 depends on (a 6.1 cloud kernel).
if [ ! -s "$cache/kernel-release" ] || [ ! -f "$cache/vmlinuz" ]; then
  apt_update
  pkg="$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*\)$/\1/p' | head -1)"
  if [ -z "$pkg" ]; then
    echo "powerloss setup: cannot find the kernel package linux-image-cloud-amd64 depends on" >&2
    exit 1
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp" # apt-get download runs as the _apt user where it can
  (cd "$tmp" && apt-get download -q "$pkg" >/dev/null)
  dpkg-deb -x "$tmp"/*.deb "$tmp/x"
  release="$(ls "$tmp/x/lib/modules")"
  rm -rf "$cache/modules"
  mkdir -p "$cache/modules"
  cp "$tmp/x/boot/vmlinuz-$release" "$cache/vmlinuz"
  for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev virtio/virtio_pci_modern_dev \
    virtio/virtio_pci block/virtio_blk md/dm-mod md/dm-log-writes; do
    f="$tmp/x/lib/modules/$release/kernel/drivers/$m.ko"
    if [ ! -f "$f" ]; then
      echo "powerloss setup: kernel $release has no module $m" >&2
      exit 1
    fi
    cp "$f" "$cache/modules/"
  done
  echo "$release" >"$cache/kernel-release"
fi
cat "$cache/kernel-release"
