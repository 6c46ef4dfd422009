# Shared by scripts/demo and scripts/test: one cargo profile and one target
# directory outside the clone, so the bundled DuckDB build happens once per
# machine and is reused by tests, the demo and benchmarks.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/cache/pathlens-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
if ! mkdir -p "$CARGO_TARGET_DIR" 2>/dev/null || [ ! -w "$CARGO_TARGET_DIR" ]; then
  CARGO_TARGET_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/pathlens-target"
  mkdir -p "$CARGO_TARGET_DIR"
  export CARGO_TARGET_DIR
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is not installed: install Rust (https://rustup.rs) first" >&2
  exit 1
fi
