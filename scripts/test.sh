#!/usr/bin/env bash
# sockdoc's test command: installs what the tests need on a fresh Debian/Ubuntu machine, then runs the
# checks and the whole suite. Needs root (tests build network namespaces and nftables rules).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: the tests create network namespaces and need root: run it with sudo" >&2
  exit 77
fi

need=()
command -v nft >/dev/null || need+=(nftables)
command -v ss >/dev/null || need+=(iproute2)
command -v ip >/dev/null || need+=(iproute2)
command -v socat >/dev/null || need+=(socat)
command -v setpriv >/dev/null || need+=(util-linux)
command -v netstat >/dev/null || need+=(net-tools)
command -v python3 >/dev/null || need+=(python3)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# Nothing may be left behind by the lab.
if ip netns list | grep -q '^sdlab-'; then
  echo "test lab left network namespaces behind:" >&2
  ip netns list | grep '^sdlab-' >&2
  exit 1
fi
