#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a while, one after the other.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 30 s each, all targets)
#
# Works on the stable toolchain: `-s none` builds without a sanitizer, so
# cargo-fuzz passes only stable -C flags (sancov coverage, debug assertions,
# overflow checks); no nightly and no RUSTC_BOOTSTRAP are needed. Installs
# cargo-fuzz if it is missing (about 30 s). The committed seeds in
# fuzz/corpus/<target>/ are read but not changed: new inputs go to a scratch
# directory. A crash leaves its input and the log in fuzz/artifacts/<target>/;
# keep the input as tests/data/fuzz-regressions/<target>-<what>
# (tests/fuzz_regressions.rs replays it on every `cargo test`). Exits
# non-zero if any target crashed.
#
# Environment: FUZZ_JOBS (default 1: one process) parallel libFuzzer
# processes per target; FUZZ_CORPUS_OUT=DIR keeps the new inputs in
# DIR/<target>/ instead of throwing them away.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds=${1:-30}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(wire_open ip_peek topic_parse mqtt_session c_abi)
fi
jobs=${FUZZ_JOBS:-1}

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "== building fuzz targets (stable, -s none)"
cargo fuzz build -s none
# The binaries are run directly, so every target runs the code built here
# even if the sources change meanwhile.
bin_dir="target/$(rustc -vV | sed -n 's/^host: //p')/release"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=0
for target in "${targets[@]}"; do
  if [[ -n ${FUZZ_CORPUS_OUT:-} ]]; then
    out="$FUZZ_CORPUS_OUT/$target"
  else
    out="$scratch/$target"
  fi
  mkdir -p "$out" "corpus/$target"
  log="$scratch/$target.log"
  start=$(date +%s)
  status=0
  parallel=()
  if ((jobs > 1)); then
    # libFuzzer's -jobs mode logs to fuzz-N.log; one process logs here.
    parallel=(-jobs="$jobs" -workers="$jobs")
  fi
  mkdir -p "artifacts/$target"
  "$bin_dir/$target" -artifact_prefix="artifacts/$target/" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "${parallel[@]}" "$out" "corpus/$target" >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))
  # The last status line: "#RUNS DONE cov: C ft: F corp: N/SIZE ... exec/s: E".
  stats=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  runs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$stats")
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$stats")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$stats")
  corp=$(sed -nE 's/.*corp: ([0-9]+\/[0-9]+[KM]?b).*/\1/p' <<<"$stats")
  rate=$(sed -nE 's/.*exec\/s: ([0-9]+).*/\1/p' <<<"$stats")
  if ((status == 0)) && ! grep -qE 'ERROR: libFuzzer|panicked at|deadly signal' "$log"; then
    result=ok
  else
    result=CRASH
    failed=1
  fi
  printf '%-13s %-5s runs=%s cov=%s ft=%s corpus=%s exec/s=%s time=%ss\n' \
    "$target" "$result" "${runs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "${rate:-?}" "$elapsed"
  if [[ $result != ok ]]; then
    grep -E 'panicked at|ERROR:|SUMMARY|Test unit written to' "$log" | head -n 20 | sed 's/^/    /' || true
    echo "    full log: fuzz/artifacts/$target/fuzz.log"
    cp "$log" "artifacts/$target/fuzz.log"
  fi
done
exit "$failed"
