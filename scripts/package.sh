#!/usr/bin/env bash
# Builds sockdoc's Debian package with cargo-deb ([package.metadata.deb] in crates/sockdoc/Cargo.toml):
# the binary, the keepalive preload library, the systemd units, the reap example, one man page per
# command and the bash, zsh and fish completions (both written by the binary just built), README,
# licences and docs. The path of the .deb is the last line it prints; install it with dpkg -i.
#   scripts/package.sh          build target/debian/sockdoc_VERSION-1_ARCH.deb (release build)
#   scripts/package.sh --tool   only install cargo-deb if it is missing (scripts/test.sh does this)
# cargo-deb is installed with `cargo install --locked cargo-deb` when `cargo deb` is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/find-cargo.sh
find_cargo || exit $?

if ! cargo deb --version >/dev/null 2>&1; then
  echo "package.sh: installing cargo-deb (cargo install --locked cargo-deb)" >&2
  cargo install --locked --quiet cargo-deb
fi
if [ "${1:-}" = "--tool" ]; then
  exit 0
fi
if ! command -v dpkg-shlibdeps >/dev/null; then
  echo "package.sh: dpkg-shlibdeps is missing (it finds the package's dependencies): apt-get install dpkg-dev" >&2
  exit 69
fi

cargo build --release --locked -p sockdoc -p sockdoc-preload
# Where cargo put the build (CARGO_TARGET_DIR and build.target-dir included); cargo-deb maps the
# target/release/ paths of [package.metadata.deb] assets to the same place.
target=$(cargo metadata --format-version 1 --no-deps --locked |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
gen="$target/release/package"
rm -rf "$gen"
mkdir -p "$gen/man" "$gen/completions" "$gen/units"
"$target/release/sockdoc" man --dir "$gen/man" >/dev/null
# Debian compresses man pages (cargo-deb leaves files under target/ as they are).
gzip -9n "$gen"/man/*.1
"$target/release/sockdoc" completions bash >"$gen/completions/sockdoc.bash"
"$target/release/sockdoc" completions zsh >"$gen/completions/_sockdoc"
"$target/release/sockdoc" completions fish >"$gen/completions/sockdoc.fish"
# deploy/'s units are written for a hand install in /usr/local/bin; the package's binary is in
# /usr/bin and its reap example in /usr/share/doc/sockdoc/examples.
for unit in deploy/*.service; do
  sed -e 's#/usr/local/bin/sockdoc#/usr/bin/sockdoc#g' \
    -e 's#deploy/reap.toml.example#/usr/share/doc/sockdoc/examples/reap.toml.example#g' \
    -e '\#^\#   install -m 0755 target/release/sockdoc #d' \
    -e '\#^\#   install -m 0644 deploy/sockdoc-[a-z]*\.service #d' \
    "$unit" >"$gen/units/$(basename "$unit")"
done
if grep -n '/usr/local\|deploy/' "$gen"/units/*.service >&2; then
  echo "package.sh: the units above still name a path of the source tree" >&2
  exit 1
fi

cargo deb --no-build --locked -p sockdoc
