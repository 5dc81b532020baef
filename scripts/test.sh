#!/usr/bin/env bash
# Every check and every test, as CI runs them. Run as root so the
# network-namespace tests run (without root they are skipped with a reason).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

echo "== fmt";    cargo fmt --all -- --check
echo "== clippy"; cargo clippy --all-targets -- -D warnings
echo "== no_std"; cargo build --no-default-features --lib
echo "== header"; cargo build --lib && git diff --exit-code include/  # build.rs regenerated include/mqttif.h
echo "== test";   cargo test --all-targets
echo "== doc";    cargo test --doc
