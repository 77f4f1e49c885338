# Sourced by scripts/test (after scripts/lib/deps.sh, for keyrite_apt_install): openCryptoki's
# soft token behind its slot daemon, pkcsslotd. openCryptoki 3.8 has fixed paths
# (/etc/opencryptoki, /var/lib/opencryptoki, /run/pkcsslotd.socket, /run/lock/opencryptoki,
# /var/log/opencryptoki) and shares memory through System V IPC and /dev/shm, so it runs in a
# private mount and IPC namespace, held open by a sleeping process, where a temporary directory
# is bind-mounted over each of those paths: the machine's own configuration is never touched.
# Everything that talks to the token runs inside that namespace, through keyrite_opencryptoki_exec.
#
#   keyrite_opencryptoki_install
#   keyrite_opencryptoki_start        exports KEYRITE_OPENCRYPTOKI_MODULE, KEYRITE_OPENCRYPTOKI_DIR,
#                                     KEYRITE_OPENCRYPTOKI_LABEL and KEYRITE_OPENCRYPTOKI_PIN (the
#                                     test user PIN, for tests/opencryptoki.rs); the token is slot 0
#   keyrite_opencryptoki_exec CMD...  runs CMD in the namespace (with this shell's environment)
#   keyrite_opencryptoki_stop         stops pkcsslotd and the namespace by their PIDs, removes
#                                     the directory
#   keyrite_opencryptoki_tests ARGS   starts the token, runs `cargo nextest run ARGS --test
#                                     opencryptoki` in the namespace, stops it (tests/opencryptoki.rs
#                                     needs this; the main test run must leave that binary out)
#
# The token is initialised with the label $KEYRITE_TOKEN_LABEL (default keyrite-ock), the SO PIN
# $KEYRITE_TOKEN_SO_PIN and the user PIN $KEYRITE_TOKEN_PIN (defaults kr-S4422 and kr-P7301: at
# most 8 characters, the soft token's limit). pkcsconf
# only takes PINs as arguments, so they are on its command line (test PINs only).

KEYRITE_OPENCRYPTOKI_LIB=/usr/lib/x86_64-linux-gnu/pkcs11/libopencryptoki.so

keyrite_opencryptoki_install() {
  local missing=
  { [ -e "$KEYRITE_OPENCRYPTOKI_LIB" ] && command -v pkcsslotd && command -v pkcsconf; } \
    >/dev/null 2>&1 || missing="$missing opencryptoki"
  command -v unshare >/dev/null 2>&1 || missing="$missing util-linux"
  keyrite_apt_install "$missing" || return 1
  getent group pkcs11 >/dev/null 2>&1 ||
    { echo "keyrite: the pkcs11 group (made by the opencryptoki package) is missing" >&2; return 1; }
  [ "$(id -u)" -eq 0 ] ||
    { echo "keyrite: openCryptoki's private namespace needs root (CI runs as root)" >&2; return 1; }
}

keyrite_opencryptoki_exec() {
  [ -n "${keyrite_opencryptoki_ns_pid:-}" ] ||
    { echo "keyrite: openCryptoki is not started (keyrite_opencryptoki_start)" >&2; return 1; }
  # The working directory is kept: nsenter would otherwise start at the root.
  nsenter -t "$keyrite_opencryptoki_ns_pid" -m -i --wd="$PWD" -- "$@"
}

keyrite_opencryptoki_start() {
  local label=${KEYRITE_TOKEN_LABEL:-keyrite-ock}
  # The soft token takes PINs of 4 to 8 characters: the tests' longer PINs do not fit.
  local pin=${KEYRITE_TOKEN_PIN:-kr-P7301}
  local so_pin=${KEYRITE_TOKEN_SO_PIN:-kr-S4422}
  local dir
  keyrite_opencryptoki_install || return 1
  dir=$(mktemp -d "${TMPDIR:-/tmp}/keyrite-ock.XXXXXX") || return 1
  KEYRITE_OPENCRYPTOKI_DIR=$dir
  mkdir -p "$dir/etc" "$dir/lib/swtok/TOK_OBJ" "$dir/run/lock/opencryptoki" \
    "$dir/log/opencryptoki" "$dir/shm" || return 1
  # One slot: the soft token.
  printf '%s\n' 'version opencryptoki-3.1' '' 'slot 0' '{' 'stdll = libpkcs11_sw.so' \
    'description = "keyrite test soft token"' '}' >"$dir/etc/opencryptoki.conf" || return 1
  chgrp -R pkcs11 "$dir/etc" "$dir/lib" "$dir/run/lock/opencryptoki" "$dir/log/opencryptoki" &&
    chmod -R g+rwX "$dir/lib" "$dir/run/lock/opencryptoki" "$dir/log/opencryptoki" || return 1

  # No --fork: the sleep is unshare itself, in the new namespaces.
  unshare --mount --ipc --propagation private -- sleep infinity &
  keyrite_opencryptoki_ns_pid=$!
  local i
  for i in $(seq 1 50); do
    [ "$(readlink "/proc/$keyrite_opencryptoki_ns_pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] && break
    sleep 0.1
  done
  keyrite_opencryptoki_exec sh -ec '
    mount --bind "$1/etc" /etc/opencryptoki
    mount --bind "$1/lib" /var/lib/opencryptoki
    mount --bind "$1/run" /run
    mount --bind "$1/log" /var/log
    mount -t tmpfs -o mode=1777 keyrite-ock-shm /dev/shm' sh "$dir" ||
    { echo "keyrite: could not set up openCryptoki'\''s private namespace" >&2; return 1; }

  # nsenter runs pkcsslotd by exec (no PID namespace), so $! is the daemon's PID.
  nsenter -t "$keyrite_opencryptoki_ns_pid" -m -i -- pkcsslotd -f >"$dir/pkcsslotd.log" 2>&1 &
  keyrite_opencryptoki_slotd_pid=$!
  for i in $(seq 1 100); do
    [ -S "$dir/run/pkcsslotd.socket" ] && break
    kill -0 "$keyrite_opencryptoki_slotd_pid" 2>/dev/null ||
      { echo "keyrite: pkcsslotd did not start; its log:" >&2; cat "$dir/pkcsslotd.log" >&2; return 1; }
    sleep 0.1
  done
  [ -S "$dir/run/pkcsslotd.socket" ] || { echo "keyrite: pkcsslotd made no socket" >&2; return 1; }

  # A new soft token's SO PIN is 87654321; pkcsconf -I asks for the label on its input.
  printf '%s\n' "$label" | keyrite_opencryptoki_exec pkcsconf -I -c 0 -S 87654321 >&2 &&
    keyrite_opencryptoki_exec pkcsconf -P -c 0 -S 87654321 -n "$so_pin" >&2 &&
    keyrite_opencryptoki_exec pkcsconf -u -c 0 -S "$so_pin" -n "$pin" >&2 ||
    { echo "keyrite: initialising the openCryptoki soft token failed" >&2; return 1; }

  KEYRITE_OPENCRYPTOKI_MODULE=$KEYRITE_OPENCRYPTOKI_LIB
  KEYRITE_OPENCRYPTOKI_LABEL=$label
  KEYRITE_OPENCRYPTOKI_PIN=$pin
  export KEYRITE_OPENCRYPTOKI_MODULE KEYRITE_OPENCRYPTOKI_DIR KEYRITE_OPENCRYPTOKI_LABEL \
    KEYRITE_OPENCRYPTOKI_PIN
  echo "keyrite: openCryptoki soft token \"$label\" (pkcsslotd pid $keyrite_opencryptoki_slotd_pid," \
    "namespace pid $keyrite_opencryptoki_ns_pid) in $dir" >&2
}

keyrite_opencryptoki_stop() {
  keyrite_stop_pids keyrite_opencryptoki_slotd_pid keyrite_opencryptoki_ns_pid
  keyrite_remove_dir_var KEYRITE_OPENCRYPTOKI_DIR
}

# The tests share the one token and each lists its objects before and after: one at a time.
keyrite_opencryptoki_tests() {
  local status
  keyrite_opencryptoki_start || { keyrite_opencryptoki_stop; return 1; }
  keyrite_opencryptoki_exec cargo nextest run "$@" --test opencryptoki --test-threads 1
  status=$?
  keyrite_opencryptoki_stop
  return $status
}
