# Sourced by scripts/test (after scripts/lib/deps.sh, for keyrite_apt_install): tpm2-pkcs11 on a
# software TPM. Everything lives in one temporary directory: swtpm's state, a private D-Bus
# session bus, tpm2-abrmd (the access broker, on that session bus under its own name, so the
# machine's system bus and any real TPM are never touched) and the tpm2-pkcs11 store.
#
#   keyrite_tpm2_install
#   keyrite_tpm2_start   exports KEYRITE_TPM2_MODULE, TPM2_PKCS11_STORE, TPM2_PKCS11_TCTI,
#                        TPM2TOOLS_TCTI, DBUS_SESSION_BUS_ADDRESS, KEYRITE_TPM2_DIR,
#                        KEYRITE_TPM2_LABEL and KEYRITE_TPM2_PIN (the user PIN, for tests/tpm2.rs)
#   keyrite_tpm2_stop    stops tpm2-abrmd, the bus and swtpm by their PIDs, removes the directory
#   keyrite_tpm2_tests ARGS   starts the token, runs `cargo nextest run ARGS --test tpm2` one test
#                        at a time (they share the token and compare its objects before and
#                        after), stops it (the main test run must leave that binary out)
#
# The token is added with the label $KEYRITE_TOKEN_LABEL (default keyrite-tpm2), the SO PIN
# $KEYRITE_TOKEN_SO_PIN and the user PIN $KEYRITE_TOKEN_PIN (defaults: the tests' PINs);
# tpm2_ptool only takes PINs as arguments, so they are on its command line (test PINs only).

KEYRITE_TPM2_PKCS11=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so

keyrite_tpm2_install() {
  local missing=
  [ -e "$KEYRITE_TPM2_PKCS11" ] || missing="$missing libtpm2-pkcs11-1"
  # Debian 12 calls the package of tpm2_ptool libtpm2-pkcs11-tools.
  command -v tpm2_ptool >/dev/null 2>&1 || missing="$missing libtpm2-pkcs11-tools"
  command -v swtpm >/dev/null 2>&1 || missing="$missing swtpm swtpm-tools"
  command -v tpm2-abrmd >/dev/null 2>&1 || missing="$missing tpm2-abrmd"
  [ -e /usr/lib/x86_64-linux-gnu/libtss2-tcti-swtpm.so.0 ] || missing="$missing libtss2-tcti-swtpm0"
  [ -e /usr/lib/x86_64-linux-gnu/libtss2-tcti-tabrmd.so.0 ] || missing="$missing libtss2-tcti-tabrmd0"
  command -v dbus-daemon >/dev/null 2>&1 || missing="$missing dbus"
  command -v tpm2_startup >/dev/null 2>&1 || missing="$missing tpm2-tools"
  keyrite_apt_install "$missing"
}

# A free loopback TCP port whose successor is free too (swtpm's server and control ports).
keyrite_tpm2_free_ports() {
  /usr/bin/python3 -c '
import socket
while True:
    a = socket.socket(); a.bind(("127.0.0.1", 0)); port = a.getsockname()[1]
    b = socket.socket()
    try:
        b.bind(("127.0.0.1", port + 1))
    except OSError:
        continue
    print(port)
    break'
}

# Waits up to 10 s for the shell condition $2 while the process $1 lives.
keyrite_tpm2_wait() {
  local pid=$1 cond=$2 i
  for i in $(seq 1 100); do
    eval "$cond" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

keyrite_tpm2_start() {
  local label=${KEYRITE_TOKEN_LABEL:-keyrite-tpm2}
  local pin=${KEYRITE_TOKEN_PIN:-kr-Pin-7301-quince}
  local so_pin=${KEYRITE_TOKEN_SO_PIN:-kr-So-4422-medlar}
  local dir port bus_name
  keyrite_tpm2_install || return 1
  dir=$(mktemp -d "${TMPDIR:-/tmp}/keyrite-tpm2.XXXXXX") || return 1
  KEYRITE_TPM2_DIR=$dir
  mkdir "$dir/tpm" "$dir/store" || return 1

  port=$(keyrite_tpm2_free_ports) || return 1
  swtpm socket --tpm2 --tpmstate "dir=$dir/tpm" \
    --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
    --flags not-need-init,startup-clear --log "file=$dir/swtpm.log" >&2 &
  keyrite_tpm2_swtpm_pid=$!
  keyrite_tpm2_wait "$keyrite_tpm2_swtpm_pid" \
    "/usr/bin/python3 -c \"import socket; socket.create_connection(('127.0.0.1', $port), 0.2)\" 2>/dev/null" ||
    { echo "keyrite: swtpm did not start; its log:" >&2; cat "$dir/swtpm.log" >&2; return 1; }

  dbus-daemon --session --nofork --address="unix:path=$dir/bus" --print-address=1 \
    >"$dir/bus.address" 2>"$dir/bus.log" &
  keyrite_tpm2_bus_pid=$!
  keyrite_tpm2_wait "$keyrite_tpm2_bus_pid" "[ -s '$dir/bus.address' ]" ||
    { echo "keyrite: dbus-daemon did not start; its log:" >&2; cat "$dir/bus.log" >&2; return 1; }
  DBUS_SESSION_BUS_ADDRESS=$(head -n 1 "$dir/bus.address")
  export DBUS_SESSION_BUS_ADDRESS

  # BASHPID, not $$: unique in subshells too.
  bus_name=com.intel.tss2.Tabrmd.keyrite$BASHPID
  # CI runs as root, which tpm2-abrmd refuses without --allow-root.
  tpm2-abrmd --session --allow-root --dbus-name="$bus_name" --flush-all \
    --tcti="swtpm:host=127.0.0.1,port=$port" >"$dir/tabrmd.log" 2>&1 &
  keyrite_tpm2_abrmd_pid=$!
  TPM2_PKCS11_TCTI="tabrmd:bus_type=session,bus_name=$bus_name"
  TPM2TOOLS_TCTI=$TPM2_PKCS11_TCTI
  export TPM2_PKCS11_TCTI TPM2TOOLS_TCTI
  keyrite_tpm2_wait "$keyrite_tpm2_abrmd_pid" "tpm2_getcap properties-fixed >/dev/null 2>&1" ||
    { echo "keyrite: tpm2-abrmd did not start; its log:" >&2; cat "$dir/tabrmd.log" >&2; return 1; }

  TPM2_PKCS11_STORE=$dir/store
  export TPM2_PKCS11_STORE
  local pid
  pid=$(tpm2_ptool init --path "$TPM2_PKCS11_STORE" | sed -n 's/^id: *//p') || return 1
  [ -n "$pid" ] || { echo "keyrite: tpm2_ptool init printed no primary id" >&2; return 1; }
  tpm2_ptool addtoken --path "$TPM2_PKCS11_STORE" --pid "$pid" --label "$label" \
    --sopin "$so_pin" --userpin "$pin" >&2 || return 1

  KEYRITE_TPM2_MODULE=$KEYRITE_TPM2_PKCS11
  KEYRITE_TPM2_LABEL=$label
  KEYRITE_TPM2_PIN=$pin
  export KEYRITE_TPM2_MODULE KEYRITE_TPM2_DIR KEYRITE_TPM2_LABEL KEYRITE_TPM2_PIN
  echo "keyrite: tpm2-pkcs11 on swtpm (port $port, pid $keyrite_tpm2_swtpm_pid) via tpm2-abrmd" \
    "(pid $keyrite_tpm2_abrmd_pid), store $TPM2_PKCS11_STORE" >&2
}

keyrite_tpm2_stop() {
  keyrite_stop_pids keyrite_tpm2_abrmd_pid keyrite_tpm2_bus_pid keyrite_tpm2_swtpm_pid
  keyrite_remove_dir_var KEYRITE_TPM2_DIR
}

keyrite_tpm2_tests() {
  local status
  keyrite_tpm2_start || { keyrite_tpm2_stop; return 1; }
  cargo nextest run "$@" --test tpm2 --test-threads 1
  status=$?
  keyrite_tpm2_stop
  return $status
}
