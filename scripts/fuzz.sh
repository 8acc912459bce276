#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of everything that parses bytes: frames, the
# packets, the .lnet reader, codec tables, bundle loading and the ONNX graph reader (fuzz/fuzz_targets/). Runs each target for
# SECONDS (default 20) from its seeds (fuzz/seeds/<target>, real streams) plus what earlier runs
# found (fuzz/corpus/<target>, not committed), one after another, and fails on any finding
# (panic, overflow, allocation over 256 MB, an input taking over 10 s); the input that failed
# is kept in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Works on the stable toolchain: without a sanitizer (safe Rust needs none), cargo-fuzz only
# passes stable -C flags; debug assertions (overflow checks) are on.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frame packets container tables bundle normalize)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

cd fuzz
flags=(--sanitizer none --debug-assertions)
cargo fuzz build "${flags[@]}"

summary=()
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256
    -print_final_stats=1)
  case $target in
    tables | bundle) options+=(-dict=dicts/codec-json.dict) ;;
  esac
  log=$(mktemp)
  echo "fuzz: $target for ${seconds}s"
  if ! cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "seeds/$target" -- "${options[@]}" \
    >"$log" 2>&1; then
    # The panic or libFuzzer's error, and how to reproduce it (long lines cut).
    grep -a -A3 -E "panicked at|ERROR: libFuzzer|SUMMARY:|Failing input|Reproduce with" "$log" |
      cut -c1-300 || tail -40 "$log"
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
    rm -f "$log"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rm -f "$log"
  summary+=("$target: ${runs:-?} executions, no finding")
done
printf 'fuzz: %s\n' "${summary[@]}"
