#!/usr/bin/env bash
# Sets everything up and runs a working tunnel: installs what is missing,
# builds, and runs the namespace demo (hub + in-process broker + two nodes).
# Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo run --release --example demo
