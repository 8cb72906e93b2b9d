#!/usr/bin/env bash
# Backup and restore drill: dump the live database, restore it into a new database, point a fresh
# (empty) Redis at it and let the reconciler rebuild the live state (queues in their original
# order, seats from the next logins). Prints what it restored.
#
# Usage: backup_drill.sh SOURCE_DATABASE_URL TARGET_DATABASE_NAME EMPTY_REDIS_URL [DUMP_FILE]
# The recovery point is the moment pg_dump takes its snapshot: everything committed before it
# is restored; for a tighter point run PostgreSQL with WAL archiving (see README, Reliability).
set -euo pipefail
src="$1"; target="$2"; redis_url="$3"; dump="${4:-$(mktemp -d)/switchboard.dump}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
admin_url="${src%/*}/postgres"
t0=$(date +%s%N)
"$bin/pg_dump" -Fc -d "$src" -f "$dump"
t1=$(date +%s%N)
"$bin/psql" -q -d "$admin_url" -c "DROP DATABASE IF EXISTS \"$target\" WITH (FORCE)" -c "CREATE DATABASE \"$target\""
"$bin/pg_restore" -d "${src%/*}/$target" --no-owner "$dump"
t2=$(date +%s%N)
SWITCHBOARD_DATABASE_URL="${src%/*}/$target" SWITCHBOARD_REDIS_URL="$redis_url" \
  "$ROOT/.venv/bin/python" -m switchboard.cli reconcile
t3=$(date +%s%N)
echo "dump $(( (t1 - t0) / 1000000 )) ms, restore $(( (t2 - t1) / 1000000 )) ms," \
  "reconcile $(( (t3 - t2) / 1000000 )) ms, dump size $(stat -c %s "$dump") bytes"
