# Sourced by scripts/test, after scripts/lib/deps.sh (for keyrite_apt_install): builds the
# kryoptic PKCS#11 software token (crates.io, pinned version) against Debian's system OpenSSL
# and SQLite, once, into a per-user cache outside any checkout, and exports
# KEYRITE_KRYOPTIC_MODULE, the absolute path of its PKCS#11 module (.so).
# A second call finds the cached .so and returns at once. Progress goes to stderr only.

KEYRITE_KRYOPTIC_VERSION=1.5.4

# The Debian build dependencies of kryoptic missing on this machine, one per line.
keyrite_kryoptic_missing_packages() {
  local pkg
  for pkg in libclang-dev pkg-config libssl-dev libsqlite3-dev build-essential; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
  done
}

keyrite_kryoptic() {
  local version=$KEYRITE_KRYOPTIC_VERSION
  local cache=${KEYRITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/keyrite}
  local dir=$cache/kryoptic-$version
  local so=$dir/target/release/libkryoptic_pkcs11.so

  if [ -f "$so" ]; then
    KEYRITE_KRYOPTIC_MODULE=$so
    export KEYRITE_KRYOPTIC_MODULE
    return 0
  fi

  keyrite_apt_install "$(keyrite_kryoptic_missing_packages | tr '\n' ' ')" || return 1
  command -v cargo >/dev/null 2>&1 || { echo "keyrite: cargo is missing (install Rust with rustup)" >&2; return 1; }

  echo "keyrite: building kryoptic $version into $dir (a minute or two, once)" >&2
  mkdir -p "$dir" || return 1
  # The subshell sits left of ||, where set -e has no effect: each step checks for itself.
  (
    # One build at a time; a caller that waited finds the .so and stops.
    exec 9>"$dir/.lock" || exit 1
    flock 9 || exit 1
    [ -f "$so" ] && exit 0
    cd "$dir" || exit 1
    # A throwaway package whose only purpose is to make cargo download and unpack the pinned
    # crate source (kryoptic is a cdylib, so it cannot simply be depended upon and built).
    if [ ! -f src/Cargo.toml ]; then
      rm -rf fetch src.tmp src
      mkdir -p fetch/src || exit 1
      printf '%s\n' '[package]' 'name = "keyrite-kryoptic-fetch"' 'version = "0.0.0"' \
        'edition = "2021"' 'publish = false' '' '[dependencies]' "kryoptic = \"=$version\"" \
        >fetch/Cargo.toml || exit 1
      echo 'fn main() {}' >fetch/src/main.rs || exit 1
      cargo fetch --quiet --manifest-path fetch/Cargo.toml >&2 || exit 1
      registry=${CARGO_HOME:-$HOME/.cargo}/registry/src
      crate=$(find "$registry" -mindepth 2 -maxdepth 2 -type d -name "kryoptic-$version" | head -n 1)
      [ -n "$crate" ] && [ -f "$crate/Cargo.toml" ] ||
        { echo "keyrite: kryoptic-$version source not found under $registry" >&2; exit 1; }
      # Build from a copy: never inside ~/.cargo.
      cp -R "$crate" src.tmp && mv src.tmp src || exit 1
    fi
    # minimal = sqlite storage, AES, ECDSA/ECDH, SHA and HMAC, RSA; kryoptic-lib/dynamic =
    # link the system OpenSSL (3.0 on Debian 12) instead of building a vendored one.
    # --locked uses the Cargo.lock that the crate ships.
    cargo build --release --locked \
      --manifest-path src/Cargo.toml \
      --target-dir "$dir/target" \
      --no-default-features --features minimal,kryoptic-lib/dynamic >&2
  ) || { echo "keyrite: building kryoptic $version failed" >&2; return 1; }

  [ -f "$so" ] || { echo "keyrite: kryoptic build produced no $so" >&2; return 1; }
  KEYRITE_KRYOPTIC_MODULE=$so
  export KEYRITE_KRYOPTIC_MODULE
  echo "keyrite: kryoptic module: $KEYRITE_KRYOPTIC_MODULE" >&2
}
