#!/usr/bin/env bash
# sockdoc's test command: installs what the tests need on a fresh Debian/Ubuntu machine, then runs the
# checks and the whole suite. Needs root (tests build network namespaces and nftables rules).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/test.sh: the tests create network namespaces and need root: run it with sudo" >&2
  exit 77
fi
# Under sudo, cargo is often only on the invoking user's PATH (~/.cargo/bin): find it or say how to run.
. scripts/lib/find-cargo.sh
find_cargo || exit $?

need=()
command -v nft >/dev/null || need+=(nftables)
command -v ss >/dev/null || need+=(iproute2)
command -v ip >/dev/null || need+=(iproute2)
command -v socat >/dev/null || need+=(socat)
command -v setpriv >/dev/null || need+=(util-linux)
command -v netstat >/dev/null || need+=(net-tools)
command -v python3 >/dev/null || need+=(python3)
# Real services for the doctor lab (started by the tests inside their own namespaces).
[ -x /usr/sbin/vsftpd ] || need+=(vsftpd)
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
[ -x /usr/sbin/nginx ] || need+=(nginx)
command -v conntrack >/dev/null || need+=(conntrack)
command -v tmux >/dev/null || need+=(tmux)
# Shells that load the completions, man and groff that render the pages (tests/docs.rs);
# dpkg-shlibdeps for the package's dependencies, systemd-analyze for its units (tests/package.rs).
[ -f /usr/share/bash-completion/bash_completion ] || need+=(bash-completion)
command -v zsh >/dev/null || need+=(zsh)
command -v fish >/dev/null || need+=(fish)
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
command -v systemd-analyze >/dev/null || need+=(systemd)
# TLS for the exporter's tests: certificates made with openssl, scrapes with curl.
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
# Prometheus server and promtool for the deploy/ tests; node_exporter for bench/serve.py.
[ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ] || need+=(prometheus)
[ -x /usr/bin/prometheus-node-exporter ] || need+=(prometheus-node-exporter)
# A real container for the service-naming tests: podman with runc (crun refuses hybrid cgroup hosts)
# and an image made from the static busybox.
command -v podman >/dev/null || need+=(podman)
command -v runc >/dev/null || need+=(runc)
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx nc || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  # Install only: the tests start each daemon themselves, inside their namespaces.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# Containers get podman's default file limits unless told otherwise; where the hard limit of a process
# is lower than those (20,000 on some machines), no container could start.
if [ ! -e /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n' > /etc/containers/containers.conf
fi

# cargo-deb builds the package that tests/package.rs installs and removes again.
./scripts/package.sh --tool
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# Fuzz the two parsers of untrusted input (netlink replies, filters) for a bounded time: 40 s each on
# two threads, with overflow checks and debug assertions on (profile "fuzz"); any panic fails the run.
# SOCKDOC_FUZZ_SECS changes the budget per parser.
cargo run --locked --quiet --profile fuzz -p sockdoc-fuzz -- all --secs "${SOCKDOC_FUZZ_SECS:-40}" --threads 2
# Nothing may be left behind by the lab.
if ip netns list | grep -q '^sdlab-'; then
  echo "test lab left network namespaces behind:" >&2
  ip netns list | grep '^sdlab-' >&2
  exit 1
fi
cgroup2=$(awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' /proc/self/mountinfo)
if [ -n "$cgroup2" ] && ls "$cgroup2" | grep -q '^sdtest-'; then
  echo "test lab left cgroups behind:" >&2
  ls -d "$cgroup2"/sdtest-* >&2
  exit 1
fi
if podman ps -a --format '{{.Names}}' 2>/dev/null | grep -q '^sdtest-'; then
  echo "test lab left containers behind:" >&2
  podman ps -a --format '{{.Names}}' | grep '^sdtest-' >&2
  exit 1
fi
