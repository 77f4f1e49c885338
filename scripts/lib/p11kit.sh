# Sourced by scripts/test (after scripts/lib/deps.sh, for keyrite_apt_install; and
# scripts/lib/kryoptic.sh, for the kryoptic backend): p11-kit remoting, the way a network HSM or a
# token forwarded into a container looks to keyrite. `p11-kit server` serves one real token
# (SoftHSM2, or kryoptic) on a Unix socket in a temporary directory; keyrite loads the client
# module, p11-kit-client.so, which finds the socket through P11_KIT_SERVER_ADDRESS.
#
#   keyrite_p11kit_install
#   keyrite_p11kit_start softhsm2|kryoptic   exports KEYRITE_P11KIT_MODULE, P11_KIT_SERVER_ADDRESS,
#                                            KEYRITE_P11KIT_DIR and KEYRITE_P11KIT_LABEL
#   keyrite_p11kit_stop                      stops the server by its PID, removes the directory
#
# The token is initialised with the label $KEYRITE_TOKEN_LABEL (default keyrite-p11kit), the SO
# PIN $KEYRITE_TOKEN_SO_PIN and the user PIN $KEYRITE_TOKEN_PIN (defaults: the tests' PINs). The
# server is started in the foreground of a background job, so its PID is the job's: the caller
# stops it with keyrite_p11kit_stop in an EXIT trap. Nothing outside the directory is written.

KEYRITE_P11KIT_CLIENT=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so
KEYRITE_SOFTHSM2_MODULE=/usr/lib/softhsm/libsofthsm2.so

keyrite_p11kit_install() {
  local missing=
  command -v p11-kit >/dev/null 2>&1 || missing="$missing p11-kit"
  [ -e "$KEYRITE_P11KIT_CLIENT" ] || missing="$missing p11-kit-modules"
  { [ -e "$KEYRITE_SOFTHSM2_MODULE" ] && command -v softhsm2-util; } >/dev/null 2>&1 || missing="$missing softhsm2"
  command -v pkcs11-tool >/dev/null 2>&1 || missing="$missing opensc"
  keyrite_apt_install "$missing"
}

keyrite_p11kit_start() {
  local backend=${1:-softhsm2}
  local label=${KEYRITE_TOKEN_LABEL:-keyrite-p11kit}
  local pin=${KEYRITE_TOKEN_PIN:-kr-Pin-7301-quince}
  local so_pin=${KEYRITE_TOKEN_SO_PIN:-kr-So-4422-medlar}
  local dir module conf_env conf
  keyrite_p11kit_install || return 1
  dir=$(mktemp -d "${TMPDIR:-/tmp}/keyrite-p11kit.XXXXXX") || return 1
  KEYRITE_P11KIT_DIR=$dir
  case $backend in
    softhsm2)
      module=$KEYRITE_SOFTHSM2_MODULE
      conf_env=SOFTHSM2_CONF
      conf=$dir/softhsm2.conf
      mkdir "$dir/tokens" || return 1
      printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$dir/tokens" >"$conf" || return 1
      SOFTHSM2_CONF=$conf softhsm2-util --init-token --free --label "$label" \
        --so-pin "$so_pin" --pin "$pin" >&2 || return 1
      ;;
    kryoptic)
      keyrite_kryoptic || return 1
      module=$KEYRITE_KRYOPTIC_MODULE
      conf_env=KRYOPTIC_CONF
      conf=$dir/token.sql
      KRYOPTIC_CONF=$conf pkcs11-tool --module "$module" --init-token --label "$label" \
        --so-pin "$so_pin" >&2 || return 1
      KRYOPTIC_CONF=$conf pkcs11-tool --module "$module" --token-label "$label" --login \
        --login-type so --so-pin "$so_pin" --init-pin --pin "$pin" >&2 || return 1
      ;;
    *)
      echo "keyrite: p11-kit backend must be softhsm2 or kryoptic, not $backend" >&2
      return 1
      ;;
  esac

  # "pkcs11:" exports every token of the module; -f keeps the server in this job.
  env "$conf_env=$conf" p11-kit server -f -n "$dir/server.sock" --provider "$module" 'pkcs11:' \
    >"$dir/server.log" 2>&1 &
  keyrite_p11kit_pid=$!
  local i
  for i in $(seq 1 100); do
    if [ -S "$dir/server.sock" ]; then
      P11_KIT_SERVER_ADDRESS=unix:path=$dir/server.sock
      KEYRITE_P11KIT_MODULE=$KEYRITE_P11KIT_CLIENT
      KEYRITE_P11KIT_LABEL=$label
      export P11_KIT_SERVER_ADDRESS KEYRITE_P11KIT_MODULE KEYRITE_P11KIT_DIR KEYRITE_P11KIT_LABEL
      echo "keyrite: p11-kit server over $backend on $dir/server.sock, pid $keyrite_p11kit_pid" >&2
      return 0
    fi
    kill -0 "$keyrite_p11kit_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "keyrite: the p11-kit server did not start; its log:" >&2
  cat "$dir/server.log" >&2
  return 1
}

keyrite_p11kit_stop() {
  keyrite_stop_pids keyrite_p11kit_pid
  keyrite_remove_dir_var KEYRITE_P11KIT_DIR
}
