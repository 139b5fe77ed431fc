#!/bin/sh
# The container image's entrypoint.
#
#   entrypoint.sh [serve] [ARGS...]   serve on 0.0.0.0:$PORT with $LOGISTICS_WORKERS processes,
#                                     migrating first unless LOGISTICS_MIGRATE_ON_START=false
#   entrypoint.sh migrate             apply the database migrations once, and exit
#   entrypoint.sh COMMAND [ARGS...]   run any other command (logistics token ..., sh)
#
# ARGS after `serve` reach `logistics serve` and win over the defaults (argparse keeps the last
# value), so `serve --workers 4` works without touching the environment.
#
# Every mode ends in exec: the server takes over this shell's PID, so the SIGTERM of
# `docker stop` reaches uvicorn itself, which drains requests and runs the app's shutdown.
set -eu

# Secrets arrive as files (compose or Kubernetes secrets) rather than environment values, which
# `docker inspect` would show: each LOGISTICS_<NAME>_FILE, and PGPASSWORD_FILE (the PostgreSQL
# password asyncpg reads when the database URL has none), names a file whose content becomes
# the variable itself.
load_secret_files() {
    names=$(awk 'BEGIN {
        for (key in ENVIRON)
            if (key ~ /^(LOGISTICS_[A-Z0-9_]+|PGPASSWORD)_FILE$/) print substr(key, 1, length(key) - 5)
    }')
    for name in $names; do
        file=$(printenv "${name}_FILE")
        if printenv "$name" >/dev/null; then
            # Which one would win is a guess; refuse rather than start on the wrong secret.
            echo "entrypoint: both $name and ${name}_FILE are set; set one of them" >&2
            exit 2
        fi
        if [ ! -r "$file" ]; then
            echo "entrypoint: ${name}_FILE names $file, which this user ($(id -u)) cannot read" >&2
            exit 2
        fi
        value=$(cat "$file")
        export "$name=$value"
        unset "${name}_FILE"
    done
}

load_secret_files

mode=${1:-serve}
if [ $# -gt 0 ]; then
    shift
fi

case "$mode" in
    migrate)
        exec logistics migrate "$@"
        ;;
    serve)
        # With several replicas, migrations run once before them (compose's migrate service, a
        # Kubernetes Job) and each replica starts with LOGISTICS_MIGRATE_ON_START=false: replicas
        # migrating together would race on the same DDL.
        case "${LOGISTICS_MIGRATE_ON_START:-true}" in
            true | 1 | yes) migrate=--migrate ;;
            false | 0 | no) migrate=--no-migrate ;;
            *)
                echo "entrypoint: LOGISTICS_MIGRATE_ON_START must be true or false" >&2
                exit 2
                ;;
        esac
        exec logistics serve --host 0.0.0.0 --port "${PORT:-8000}" \
            --workers "${LOGISTICS_WORKERS:-2}" "$migrate" "$@"
        ;;
    *)
        exec "$mode" "$@"
        ;;
esac
