#!/bin/sh
# make install and make uninstall into a scratch DESTDIR (run from the repository root; .ci/run):
# the shared library has its SONAME and links, the model specs are installed, a program built
# against the installed header and library with pkg-config (as the README says) runs, and
# uninstall leaves no file behind. Exits non-zero naming the first check that failed.
set -eu
MAKE=${MAKE:-make}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }
V=$(sed -n 's/^#define DC_VERSION "\(.*\)"/\1/p' include/deepc.h)
$MAKE -s install DESTDIR="$d" PREFIX=/usr > "$d/install.log" 2>&1 || { cat "$d/install.log"; fail "make install failed"; }
lib=$d/usr/lib
[ -f "$lib/libdeepc.so.$V" ] || fail "no libdeepc.so.$V"
readelf -d "$lib/libdeepc.so.$V" | grep -q 'SONAME.*\[libdeepc\.so\.0\]' ||
    fail "libdeepc.so.$V has no SONAME libdeepc.so.0: $(readelf -d "$lib/libdeepc.so.$V" | grep SONAME)"
[ "$(readlink "$lib/libdeepc.so.0")" = "libdeepc.so.$V" ] || fail "libdeepc.so.0 does not link to libdeepc.so.$V"
[ "$(readlink "$lib/libdeepc.so")" = "libdeepc.so.0" ] || fail "libdeepc.so does not link to libdeepc.so.0"
for f in include/deepc.h lib/libdeepc.a bin/deepc lib/pkgconfig/deepc.pc share/deepc/models/lenet5 \
         share/deepc/models/char_lstm; do
    [ -f "$d/usr/$f" ] || fail "PREFIX/$f was not installed"
done
"$d/usr/bin/deepc" summary "$d/usr/share/deepc/models/lenet5" | grep -q '61,706' ||
    fail "the installed deepc cannot read the installed lenet5 spec"
# the README's way to build against the installed library
flags=$(PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$d" pkg-config --cflags --libs deepc)
${CC:-cc} -o "$d/classify" examples/classify.c $flags -Wl,-rpath,"$lib" || fail "cannot build against the installed library"
readelf -d "$d/classify" | grep -q 'NEEDED.*\[libdeepc\.so\.0\]' || fail "the program does not need libdeepc.so.0"
out=$("$d/classify" "$d/usr/share/deepc/models/lenet5" "$d/no-such.safetensors" x.png 2>&1) &&
    fail "classify with missing weights exited 0"
case $out in *no-such.safetensors*) ;; *) fail "classify's error does not name the weights: $out" ;; esac
$MAKE -s uninstall DESTDIR="$d" PREFIX=/usr > "$d/uninstall.log" 2>&1 || { cat "$d/uninstall.log"; fail "make uninstall failed"; }
left=$(find "$d/usr" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "check-install: SONAME libdeepc.so.0 -> libdeepc.so.$V, install and uninstall ok"
