# Sourced by scripts/test.sh and scripts/package.sh: makes `cargo` runnable under sudo.
#
# sudo's secure_path drops ~/.cargo/bin, where rustup puts cargo. When cargo is not on PATH,
# find_cargo looks in $CARGO_HOME/bin, the invoking user's ~/.cargo/bin ($SUDO_USER), this user's,
# root's and /usr/local/cargo/bin, puts the first that has cargo on PATH (with that user's rustup
# toolchains, ~/.rustup beside it, unless RUSTUP_HOME is set) and says which on stderr; else it
# prints one line saying how to run the script and returns 127.

find_cargo() {
  command -v cargo >/dev/null 2>&1 && return 0
  local homes=() dir home
  if [ -n "${SUDO_USER:-}" ]; then
    home=$(getent passwd "$SUDO_USER" | cut -d: -f6)
    [ -n "$home" ] && homes+=("$home")
  fi
  [ -n "${HOME:-}" ] && homes+=("$HOME")
  homes+=(/root)
  local dirs=()
  [ -n "${CARGO_HOME:-}" ] && dirs+=("$CARGO_HOME/bin")
  for home in "${homes[@]}"; do dirs+=("$home/.cargo/bin"); done
  dirs+=(/usr/local/cargo/bin)
  for dir in "${dirs[@]}"; do
    if [ -x "$dir/cargo" ]; then
      home=$(dirname "$dir")
      home=$(dirname "$home")
      if [ -z "${RUSTUP_HOME:-}" ] && [ -d "$home/.rustup" ]; then
        export RUSTUP_HOME="$home/.rustup"
      fi
      export PATH="$dir:$PATH"
      echo "$(basename "$0"): cargo is not on PATH (sudo drops ~/.cargo/bin): using $dir/cargo" >&2
      return 0
    fi
  done
  echo "$(basename "$0"): cargo not found (not on PATH, not in ~/.cargo/bin of \$SUDO_USER or root): run it as  sudo env \"PATH=\$PATH\" $0" >&2
  return 127
}
