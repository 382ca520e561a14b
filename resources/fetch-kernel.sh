#!/usr/bin/env bash
# Fetches Debian's cloud kernel for the NUMA lab into resources/cache/kernel/:
#   bzImage   the boot/vmlinuz-* image (used for L1 and as an L2 kernel)
#   vmlinux   the uncompressed ELF kernel cut out of bzImage's LZ4 payload
#   modules/  irqbypass.ko kvm.ko kvm-amd.ko (insmod in that order), tun.ko (L1's taps)
#   guest-modules/  the virtio modules an L2 guest loads, in load order (see GUEST_MODULES)
#   config    the kernel's build config
#   VERSION   the kernel package's version string, e.g. 6.1.0-48-cloud-amd64
# Idempotent: does nothing when all of these are present. `--refresh` fetches again.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=resources/lib.sh
. "$here/lib.sh"

cache="$here/cache"
out="$cache/kernel"
modules=(kernel/virt/lib/irqbypass.ko kernel/arch/x86/kvm/kvm.ko kernel/arch/x86/kvm/kvm-amd.ko
         kernel/drivers/net/tun.ko)
# The guest's virtio drivers, in the order they must be inserted.
guest_modules=(virtio virtio_ring virtio_mmio virtio_blk failover net_failover virtio_net)

complete() {
    [ -s "$out/VERSION" ] && [ -s "$out/bzImage" ] && [ -s "$out/vmlinux" ] && [ -s "$out/config" ] \
        && [ -s "$out/modules/irqbypass.ko" ] && [ -s "$out/modules/kvm.ko" ] \
        && [ -s "$out/modules/kvm-amd.ko" ] && [ -s "$out/modules/tun.ko" ] \
        && [ -s "$out/guest-modules/virtio_net.ko" ]
}

if [ "${1:-}" != "--refresh" ] && complete; then
    echo "fetch-kernel: $out is complete ($(cat "$out/VERSION"))"
    exit 0
fi

ensure_packages lz4 file

# The versioned image package that linux-image-cloud-amd64 points at.
current_package() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1
}
pkg="$(current_package)"
if [ -z "$pkg" ]; then
    as_root apt-get update
    pkg="$(current_package)"
fi
[ -n "$pkg" ] || { echo "fetch-kernel: apt-cache names no linux-image-*-cloud-amd64 package" >&2; exit 1; }
version="${pkg#linux-image-}"
echo "fetch-kernel: fetching $pkg"

mkdir -p "$cache"
deb_dir="$cache/deb"
rm -rf "$deb_dir"
mkdir -p "$deb_dir"
# apt-get download writes into the current directory.
(cd "$deb_dir" && apt-get download "$pkg")
deb="$(ls "$deb_dir"/*.deb)"

tmp="$(mktemp -d "$cache/kernel.tmp.XXXXXX")"
trap 'rm -rf "$tmp" "$deb_dir"' EXIT
dpkg -x "$deb" "$tmp/root"

mkdir -p "$tmp/out/modules"
cp "$tmp/root/boot/vmlinuz-$version" "$tmp/out/bzImage"
cp "$tmp/root/boot/config-$version" "$tmp/out/config"
for m in "${modules[@]}"; do
    src="$tmp/root/lib/modules/$version/$m"
    [ -f "$src" ] || { echo "fetch-kernel: $pkg has no $m" >&2; exit 1; }
    cp "$src" "$tmp/out/modules/"
done
mkdir -p "$tmp/out/guest-modules"
for m in "${guest_modules[@]}"; do
    src="$(find "$tmp/root/lib/modules/$version/kernel" -name "$m.ko" | head -n 1)"
    [ -n "$src" ] || { echo "fetch-kernel: $pkg has no $m.ko" >&2; exit 1; }
    cp "$src" "$tmp/out/guest-modules/"
done
printf '%s\n' "${guest_modules[@]}" > "$tmp/out/guest-modules/ORDER"

# Cut the compressed payload out of the bzImage (boot protocol setup header):
# setup_sects at 0x1f1 (497), payload_offset at 0x248 (584), payload_length at 0x24c (588);
# the payload offset counts from the end of the setup sectors.
u8() { od -An -tu1 -j "$2" -N1 "$1" | tr -d ' '; }
u32() { od -An -tu4 -j "$2" -N4 "$1" | tr -d ' '; }
bz="$tmp/out/bzImage"
setup_sects="$(u8 "$bz" 497)"
[ "$setup_sects" -ne 0 ] || setup_sects=4
payload_offset="$(u32 "$bz" 584)"
payload_length="$(u32 "$bz" 588)"
start=$(( (setup_sects + 1) * 512 + payload_offset ))
magic="$(od -An -tx1 -j "$start" -N4 "$bz" | tr -d ' ')"
[ "$magic" = "02214c18" ] || {
    echo "fetch-kernel: payload at $start has magic $magic, not an LZ4 legacy stream" >&2; exit 1; }
dd if="$bz" of="$tmp/payload.lz4" bs=1M iflag=skip_bytes,count_bytes \
    skip="$start" count="$payload_length" status=none
# The kernel appends the decompressed size after the stream; lz4 may warn about it.
lz4 -dc "$tmp/payload.lz4" > "$tmp/out/vmlinux" 2> "$tmp/lz4.err" || true
elf="$(od -An -tx1 -N4 "$tmp/out/vmlinux" | tr -d ' ')"
[ "$elf" = "7f454c46" ] || {
    echo "fetch-kernel: the decompressed payload is no ELF file (magic $elf):" >&2
    cat "$tmp/lz4.err" >&2
    exit 1
}
echo "$version" > "$tmp/out/VERSION"

rm -rf "$out"
mv "$tmp/out" "$out"
echo "fetch-kernel: $out ready ($version): $(file -b "$out/vmlinux" | cut -c1-60)"
