#!/usr/bin/env bash
# Runs schemathesis against a live server: a uvicorn on 127.0.0.1 with a fresh SQLite database
# and an admin API key, every check, every phase (examples, coverage, fuzzing, stateful), with a
# fixed seed. CI runs it as it is; for a longer run raise the examples per operation:
#
#   scripts/schemathesis_run.sh                       # CI's budget
#   SCHEMATHESIS_MAX_EXAMPLES=500 scripts/schemathesis_run.sh --seed 7
#
# Extra arguments go to `schemathesis run` (e.g. --include-path-regex '/v1/clients').
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-5}
SEED=${SCHEMATHESIS_SEED:-20261201}
VENV=${VENV:-.venv}

scratch=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite:///${scratch}/schemathesis.db"
export CAREPLAN_ENV=test
export CAREPLAN_SECRET_KEY_FILE="${scratch}/secret.key"
export CAREPLAN_SECRET_KEY=${CAREPLAN_SECRET_KEY:-$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(48))')}
export CAREPLAN_ACCESS_LOG=false
export CAREPLAN_LOG_LEVEL=WARNING
export CAREPLAN_ARGON2_TIME_COST=1
export CAREPLAN_ARGON2_MEMORY_KIB=1024

"$VENV/bin/careplan" db upgrade head >/dev/null
key=$("$VENV/bin/careplan" admin create-api-key --name schemathesis --role admin | tail -n 1)

"$VENV/bin/uvicorn" --factory app.main:app_factory --host 127.0.0.1 --port "$port" \
    --no-access-log 2>"${scratch}/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${port}/v1/health', timeout=1)" 2>/dev/null; then
        break
    fi
    sleep 0.2
done

status=0
"$VENV/bin/schemathesis" --config-file scripts/schemathesis.toml run "http://127.0.0.1:${port}/openapi.json" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --seed "$SEED" \
    --max-examples "$MAX_EXAMPLES" \
    --workers 2 \
    --no-shrink \
    --header "Authorization: Bearer ${key}" \
    --request-timeout 30 \
    "$@" || status=$?

if grep -q '"level":"error"' "${scratch}/server.log"; then
    echo "the server logged errors during the run:" >&2
    grep '"level":"error"' "${scratch}/server.log" | head -20 >&2
    status=1
fi
exit "$status"
