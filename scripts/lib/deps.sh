# Sourced by scripts/test and scripts/demo: installs, from Debian's packages, what keyrite's
# tests and demo use, when it is missing. Needs root (CI runs as root) only if something is.

# The Debian packages missing on this machine, one per line.
keyrite_missing_packages() {
  { [ -e /usr/lib/softhsm/libsofthsm2.so ] && command -v softhsm2-util; } >/dev/null 2>&1 || echo softhsm2
  command -v pkcs11-tool >/dev/null 2>&1 || echo opensc
  command -v openssl >/dev/null 2>&1 || echo openssl
  command -v ssh-keygen >/dev/null 2>&1 || echo openssh-client
  command -v jq >/dev/null 2>&1 || echo jq
  # scripts/verify-with-openssl reads the policy with tomlq (Debian's yq).
  command -v tomlq >/dev/null 2>&1 || echo yq
  # tests/durability.rs traces a ceremony's system calls.
  command -v strace >/dev/null 2>&1 || echo strace
  # tests/report.rs opens the audit reports in a real headless browser.
  command -v chromium >/dev/null 2>&1 || echo chromium
  # tests/script.rs and tests/report.rs count the pages Chromium prints (pdfinfo), and read
  # a report's text back (pdftotext).
  command -v pdfinfo >/dev/null 2>&1 || echo poppler-utils
  command -v cc >/dev/null 2>&1 || echo build-essential
  [ -x /usr/bin/python3 ] || echo python3
  /usr/bin/python3 -c 'import cryptography' >/dev/null 2>&1 || echo python3-cryptography
  /usr/bin/python3 -c 'import PyKCS11' >/dev/null 2>&1 || echo python3-pykcs11
  # tests/shares_age.rs opens the shares pin split encrypts with the reference age.
  command -v age >/dev/null 2>&1 || echo age
  # tests/shares.rs types PIN shares in a real terminal.
  command -v tmux >/dev/null 2>&1 || echo tmux
}

# Installs the Debian packages named in $1 (space-separated; nothing when empty).
keyrite_apt_install() {
  local missing=$1
  [ -n "${missing// /}" ] || return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "keyrite: missing Debian packages: $missing" >&2
    echo "Run as root, or: sudo apt-get install $missing" >&2
    return 1
  fi
  echo "keyrite: installing Debian packages: $missing" >&2
  apt-get update -qq >&2 || { echo "keyrite: apt-get update failed" >&2; return 1; }
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
    { echo "keyrite: apt-get install $missing failed" >&2; return 1; }
}

keyrite_install_deps() {
  keyrite_apt_install "$(keyrite_missing_packages | sort -u | tr '\n' ' ')" || return 1
  command -v cargo >/dev/null 2>&1 || { echo "keyrite: cargo is missing (install Rust with rustup)" >&2; return 1; }
}

# Stops the processes whose PIDs the named variables hold, in order, waits for each, and empties
# the variables; a variable already empty is skipped, so a stop runs safely twice or before start.
keyrite_stop_pids() {
  local var pid
  for var in "$@"; do
    pid=${!var:-}
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
      printf -v "$var" '%s' ''
    fi
  done
}

# Removes the directory the named variable holds, if any, and empties the variable.
keyrite_remove_dir_var() {
  local var=$1
  if [ -n "${!var:-}" ]; then
    rm -rf "${!var}"
    printf -v "$var" '%s' ''
  fi
}
