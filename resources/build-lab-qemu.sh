#!/usr/bin/env bash
# Builds the lab's QEMU (the L0 emulator that runs L1): Debian's own source of the installed
# qemu-system-x86 package, with the patches in resources/lab-qemu/ applied, x86_64 system
# emulation only, into resources/cache/qemu/qemu-system-x86_64. Debian's QEMU 7.2 delivers an
# interrupt that nested SVM injects twice when its vCPU is kicked at the wrong moment, which
# crashes a busy L2 guest while L1 moves its pages; gives L2 the host's interrupt shadow at
# VMRUN; and lets any CPU's FPU restore rewrite the first CPU's nested-paging flag, which
# triple-faults L2 or L1 now and then (README, Reliability). The patches fix all three.
# Firmware comes from Debian's packages, where Debian's own build looks for it. Idempotent: does
# nothing when the binary was built from the same source version, patches and this script.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=resources/lib.sh
. "$here/lib.sh"

cache="$here/cache"
out="$cache/qemu"
work="$cache/qemu-build"
# QEMU 7.2's own meson (a submodule, not in Debian's source tarball) is 0.63.
meson_version=0.63.3

ensure_packages qemu-system-x86 dpkg-dev
version="$(dpkg-query -W -f='${source:Version}' qemu-system-x86)"
stamp="$version $(cat "$here"/lab-qemu/*.patch "$0" | sha256sum | cut -d' ' -f1)"
if [ -x "$out/qemu-system-x86_64" ] && [ "$(cat "$out/STAMP" 2>/dev/null)" = "$stamp" ]; then
    echo "build-lab-qemu: $out/qemu-system-x86_64 is built ($version, patched)"
    exit 0
fi

# glib's headers need libpcre2-dev, which pins libpcre2-8-0 to the registry's version.
pcre_want="$(apt-cache policy libpcre2-dev | sed -n 's/^ *Candidate: //p')"
pcre_have="$(dpkg-query -W -f='${Version}' libpcre2-8-0 2>/dev/null || true)"
if [ -n "$pcre_want" ] && [ "$pcre_want" != "(none)" ] && [ "$pcre_have" != "$pcre_want" ] \
    && ! dpkg-query -W -f='${Status}' libpcre2-dev 2>/dev/null | grep -q 'install ok installed'; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --allow-downgrades \
        --no-install-recommends "libpcre2-8-0=$pcre_want"
fi
ensure_packages ninja-build libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev flex bison \
    patch python3-venv

rm -rf "$work"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
# Debian's source of exactly the installed package, through a private apt configuration
# (the host's sources lists only binary packages).
codename="$(. /etc/os-release && echo "$VERSION_CODENAME")"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$work/apt/sources.list" <<LIST
deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename main
deb-src [signed-by=$keyring] http://deb.debian.org/debian $codename-updates main
deb-src [signed-by=$keyring] http://deb.debian.org/debian-security $codename-security main
LIST
apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache")
apt-get "${apt_opts[@]}" update >/dev/null
(cd "$work" && apt-get "${apt_opts[@]}" source --download-only "qemu=$version" >/dev/null)
(cd "$work" && dpkg-source --no-check -x ./qemu_*.dsc src >/dev/null)
for p in "$here"/lab-qemu/*.patch; do
    patch -d "$work/src" -p1 --quiet < "$p"
done

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "meson==$meson_version"
mkdir -p "$work/src/build"
(cd "$work/src/build" && ../configure --meson="$work/venv/bin/meson" \
    --target-list=x86_64-softmmu --without-default-features --enable-tcg --disable-kvm \
    --enable-fdt=system --disable-docs --disable-tools --disable-guest-agent \
    --disable-debug-info --disable-werror \
    --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu \
    >"$work/configure.log" 2>&1) || {
    echo "build-lab-qemu: configure failed; see $work/configure.log" >&2; exit 1; }
echo "build-lab-qemu: building QEMU $version (x86_64 system emulation only: about 4 minutes on 2 cores)"
ninja -C "$work/src/build" qemu-system-x86_64 >"$work/build.log" 2>&1 || {
    echo "build-lab-qemu: the build failed; see $work/build.log" >&2; exit 1; }

mkdir -p "$out"
cp "$work/src/build/qemu-system-x86_64" "$out/qemu-system-x86_64"
echo "$stamp" > "$out/STAMP"
rm -rf "$work"
echo "build-lab-qemu: $out/qemu-system-x86_64 ready ($version, patched)"
