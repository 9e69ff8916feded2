#!/usr/bin/env bash
# tfpilot against a minimal Probot app, side by side, in one command.
#
#   bench/run.sh [--release] [--count N] [--concurrency N] [--store URL]
#
# Builds the load generator (debug unless --release; CI never runs this),
# installs the pinned Probot app (npm ci into bench/probot/node_modules),
# measures the idle RSS of `tfpilot serve` on its own, then runs
# `bench_webhooks --probot bench/probot`: the same deliveries at the same
# count and concurrency over loopback to tfpilot and to Probot, printing
# throughput, p50/p90/p99, store ops and GitHub calls per delivery (from
# tfpilot's /metrics), RSS, and the tfpilot/Probot ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
cargo_flags=()
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; cargo_flags=(--release) ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
target="${CARGO_TARGET_DIR:-target}"
bin="$target/$profile"

echo "== build ($profile)"
cargo build "${cargo_flags[@]}" --bin bench_webhooks --bin tfpilot

echo "== Probot (npm ci, versions pinned in bench/probot/package-lock.json)"
(cd bench/probot && npm ci --no-audit --no-fund --loglevel=error)

echo "== machine"
echo "cores: $(nproc); $(uptime | sed 's/.*load/load/'); node $(node --version); $(rustc --version)"

echo "== idle RSS of tfpilot serve alone"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
openssl genrsa -out "$scratch/key.pem" 2048 2>/dev/null
TFPILOT_REDELIVERY_INTERVAL_SECS=0 TFPILOT_LOG_FORMAT=json \
  "$bin/tfpilot" serve --listen 127.0.0.1:0 --webhook-secret bench --app-id 1 \
  --private-key-path "$scratch/key.pem" --store "file://$scratch/store" \
  --github-api-url http://127.0.0.1:9 >"$scratch/serve.log" 2>&1 &
serve_pid=$!
sleep 2
if [ -r "/proc/$serve_pid/status" ]; then
  echo "tfpilot serve idle: $(grep VmRSS "/proc/$serve_pid/status" | tr -s ' ')"
  kill "$serve_pid"
  wait "$serve_pid" 2>/dev/null || true
else
  echo "tfpilot serve did not stay up:"; cat "$scratch/serve.log"
fi

echo "== load"
"$bin/bench_webhooks" --probot bench/probot "${args[@]}"
