#!/usr/bin/env bash
# tfpilot against a minimal Probot app, side by side, in one command.
#
#   bench/run.sh [--release] [--s3] [--count N] [--concurrency N]
#
# Builds the load generator (debug unless --release; CI never runs this),
# installs the pinned Probot app (npm ci into bench/probot/node_modules),
# measures the idle RSS of `tfpilot serve` on its own, then runs
# `bench_webhooks --probot bench/probot` twice: ignorable deliveries (runs of
# other workflows, comments that are not commands) with each server on one
# core and one thread, the load generator on the other (7 interleaved rounds
# per server, after a warm-up), then state changes, round trips and commands
# with tfpilot on one thread per core. The same deliveries at the same count
# and concurrency over loopback to both, printing throughput,
# p50/p90/p99, server and sender CPU per delivery, store ops and GitHub calls
# per delivery (from tfpilot's /metrics), RSS, and the tfpilot/Probot ratios.
# With --s3 it then runs tfpilot alone again with the store on a local S3
# server (moto, from $VENV_TOOLS, default .venv-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
invocation="bench/run.sh $*"

profile=debug
cargo_flags=()
args=()
s3=0
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; cargo_flags=(--release) ;;
    --s3) s3=1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
target="${CARGO_TARGET_DIR:-target}"
bin="$target/$profile"

echo "== build ($profile)"
cargo build "${cargo_flags[@]}" --bin bench_webhooks --bin tfpilot

echo "== Probot (npm ci, versions pinned in bench/probot/package-lock.json)"
# `npm ci` deletes node_modules (about 2,500 files) before installing. On ext4
# without a journal, file creation is slower for minutes after many deletions
# (docs/benchmarks.md), which would weigh on the state scenario that follows: so
# node_modules installed from this very lock file is kept.
lock_sum="$(sha256sum bench/probot/package-lock.json | cut -d' ' -f1)"
installed_from=bench/probot/node_modules/.tfpilot-installed-from
if [ "$(cat "$installed_from" 2>/dev/null)" = "$lock_sum" ]; then
  echo "node_modules already installed from this package-lock.json"
else
  (cd bench/probot && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$installed_from"
fi

echo "== machine"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'); cores: $(nproc); $(uptime | sed 's/.*load/load/'); node $(node --version); $(rustc --version)"
echo "command: $invocation"

echo "== idle RSS of tfpilot serve alone"
scratch="$(mktemp -d)"
moto_pid=
cleanup() {
  if [ -n "$moto_pid" ]; then kill "$moto_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
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

echo "== ignorable deliveries (other workflows' runs, comments that are not commands), tfpilot and Probot on one core and one event loop each"
# Node runs Probot's JavaScript on one thread; the load generator gets a core of
# its own, so neither server competes with it (docs/benchmarks.md, "Threads and cores").
pin=(--pin)
if [ "$(nproc)" -lt 2 ]; then pin=(); echo "(one CPU: nothing to pin)"; fi
"$bin/bench_webhooks" --probot bench/probot "${pin[@]}" --server-threads 1 "${args[@]}" ignorable comment

echo "== state changes, round trips and commands, tfpilot as \`tfpilot serve\` runs here ($(nproc) threads)"
"$bin/bench_webhooks" --probot bench/probot --server-threads "$(nproc)" "${args[@]}" state roundtrip command

if [ "$s3" = 1 ]; then
  echo "== load, tfpilot with the store on a local S3 server (moto)"
  port=9100
  while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
  "${VENV_TOOLS:-.venv-tools}/bin/moto_server" -H 127.0.0.1 -p "$port" >"$scratch/moto.log" 2>&1 &
  moto_pid=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.2
  done
  curl -sf -o /dev/null -X PUT "http://127.0.0.1:$port/tfpilot-bench"
  AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
    AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true \
    "$bin/bench_webhooks" --store s3://tfpilot-bench/bench "${args[@]}"
fi
