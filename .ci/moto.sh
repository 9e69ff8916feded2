# Sourced: starts and stops moto (a local S3 server that honours If-Match/If-None-Match),
# through .ci/s3_server.py, which makes each conditional write atomic as on AWS.
moto_port=${MOTO_PORT:-9000}
# A busy port (another run) is skipped.
while (exec 3<>"/dev/tcp/127.0.0.1/$moto_port") 2>/dev/null; do moto_port=$((moto_port + 1)); done
start_moto() {
  local venv=.venv-tools
  "$venv/bin/python" .ci/s3_server.py -H 127.0.0.1 -p "$moto_port" >"${TMPDIR:-/tmp}/tfpilot-moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 100); do
    if curl -sf -o /dev/null "http://127.0.0.1:$moto_port/"; then break; fi
    sleep 0.2
  done
  curl -sf -o /dev/null "http://127.0.0.1:$moto_port/" || { echo "moto did not start" >&2; cat "${TMPDIR:-/tmp}/tfpilot-moto.log" >&2; return 1; }
  export TFPILOT_TEST_S3_ENDPOINT="http://127.0.0.1:$moto_port"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  echo "moto listening on $TFPILOT_TEST_S3_ENDPOINT"
}
stop_moto() {
  if [ -n "${MOTO_PID:-}" ]; then kill "$MOTO_PID" 2>/dev/null || true; fi
}
