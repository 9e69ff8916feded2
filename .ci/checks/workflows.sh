#!/usr/bin/env bash
# Workflow templates: zizmor (security audits, default persona) and GitHub's workflow
# schema (check-jsonschema's vendored copy) must report nothing on templates/workflows/.
# Then the same checks run on deliberately broken copies and must fail: a check that
# cannot fail proves nothing.
#
# Tools come from .venv-tools/bin (installed by .ci/tools.sh); TOOLS_BIN overrides.
# zizmor runs with --offline: its online audits need a GitHub token and network.
set -euo pipefail
cd "$(dirname "$0")/../.."

tools="${TOOLS_BIN:-$PWD/.venv-tools/bin}"
zizmor="$tools/zizmor"
cjs="$tools/check-jsonschema"
for tool in "$zizmor" "$cjs"; do
  if [ ! -x "$tool" ]; then
    echo "workflows.sh: $tool not found (run .ci/tools.sh or set TOOLS_BIN)" >&2
    exit 1
  fi
done

shopt -s nullglob
templates=(templates/workflows/*.yml)
if [ "${#templates[@]}" -eq 0 ]; then
  echo "workflows.sh: no templates in templates/workflows/" >&2
  exit 1
fi

echo "-- zizmor ${templates[*]}"
"$zizmor" --offline --no-progress "${templates[@]}"

echo "-- check-jsonschema vendor.github-workflows"
"$cjs" --builtin-schema vendor.github-workflows "${templates[@]}"

# The checks can fail.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# 1. An input pasted into a script (the seed's pattern) must be flagged by zizmor.
unsafe="$scratch/tfpilot-plan-unsafe.yml"
awk '!done && /^          set -euo pipefail$/ {
       print "          echo \"${{ inputs.request_id }}\""; done = 1; next
     } { print }' templates/workflows/tfpilot-plan.yml > "$unsafe"
if ! grep -q 'echo "${{ inputs.request_id }}"' "$unsafe"; then
  echo "workflows.sh: could not build the unsafe copy" >&2
  exit 1
fi
# Still a valid workflow, so the finding below is about the injection, not the syntax.
"$cjs" --builtin-schema vendor.github-workflows "$unsafe" >/dev/null
set +e
unsafe_report="$("$zizmor" --offline --no-progress "$unsafe" 2>&1)"
unsafe_rc=$?
set -e
if [ "$unsafe_rc" -eq 0 ] || ! grep -q 'template-injection' <<<"$unsafe_report"; then
  echo "workflows.sh: zizmor did not flag \${{ inputs.request_id }} inside run: (exit $unsafe_rc)" >&2
  echo "$unsafe_report" >&2
  exit 1
fi
echo "-- ok: zizmor flags the unsafe copy (template-injection, exit $unsafe_rc)"

# 2. A schema error must be caught by check-jsonschema.
invalid="$scratch/tfpilot-plan-invalid.yml"
sed 's/^    timeout-minutes: 60$/    timeout-minutes: sixty/' templates/workflows/tfpilot-plan.yml > "$invalid"
if cmp -s "$invalid" templates/workflows/tfpilot-plan.yml; then
  echo "workflows.sh: could not build the invalid copy" >&2
  exit 1
fi
if "$cjs" --builtin-schema vendor.github-workflows "$invalid" >/dev/null 2>&1; then
  echo "workflows.sh: check-jsonschema accepted timeout-minutes: sixty" >&2
  exit 1
fi
echo "-- ok: check-jsonschema rejects the invalid copy"
