# Sourced by scripts/test (and scripts/demo): the AWS side of the end-to-end tests. The real AWS
# CLI v2 from Debian (/usr/bin/aws; a Python-managed v1 may shadow it on PATH, so it is called by
# its full path) and the ministack KMS emulator from PyPI, in a venv in a cache outside the
# checkout. The emulator listens on loopback only, on a free port, and is stopped by its PID.

keyrite_emulator_install() {
  local cache=${KEYRITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyrite}
  local venv=$cache/ministack-venv
  local missing=
  [ -x /usr/bin/aws ] || missing="$missing awscli"
  /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing="$missing python3-venv"
  keyrite_apt_install "$missing" || return 1
  if [ ! -x "$venv/bin/ministack" ]; then
    echo "keyrite: installing ministack into $venv" >&2
    rm -rf "$venv"
    /usr/bin/python3 -m venv "$venv" >&2 || return 1
    "$venv/bin/pip" install --quiet ministack cryptography >&2 || { rm -rf "$venv"; return 1; }
  fi
  KEYRITE_MINISTACK=$venv/bin/ministack
  KEYRITE_AWS_CLI=/usr/bin/aws
  export KEYRITE_MINISTACK KEYRITE_AWS_CLI
}

# Starts the emulator on a free loopback port; exports KEYRITE_EMULATOR_URL and sets
# keyrite_emulator_pid. The caller stops it with keyrite_emulator_stop (in an EXIT trap).
keyrite_emulator_start() {
  local port log
  port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  log=$(mktemp "${TMPDIR:-/tmp}/keyrite-ministack.XXXXXX")
  BIND_HOST=127.0.0.1 GATEWAY_PORT=$port IOT_MTLS_ENABLED=0 "$KEYRITE_MINISTACK" >"$log" 2>&1 &
  keyrite_emulator_pid=$!
  local i
  for i in $(seq 1 100); do
    if /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null; then
      KEYRITE_EMULATOR_URL=http://127.0.0.1:$port
      export KEYRITE_EMULATOR_URL
      echo "keyrite: KMS emulator (ministack) on $KEYRITE_EMULATOR_URL, pid $keyrite_emulator_pid" >&2
      return 0
    fi
    kill -0 "$keyrite_emulator_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "keyrite: the KMS emulator did not start; its log:" >&2
  cat "$log" >&2
  return 1
}

keyrite_emulator_stop() {
  keyrite_stop_pids keyrite_emulator_pid
}
