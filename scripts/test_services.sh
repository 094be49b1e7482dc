#!/usr/bin/env bash
# Starts and stops the real services some tests need, on loopback, on ports and in folders of
# their own (nothing of the machine's own PostgreSQL is used or touched):
#
#   scripts/test_services.sh start [BUILD_DIR]   # default BUILD_DIR: build
#   scripts/test_services.sh stop  [BUILD_DIR]
#
# PostgreSQL 15 (Debian's postgresql package): a fresh cluster in BUILD_DIR/test-services/postgres,
# trust authentication for the test user on 127.0.0.1, and a user with a password for the tests
# of authentication errors. `start` writes BUILD_DIR/test-services/env, a shell file exporting
#   SAMCACHE_TEST_POSTGRES_URL=postgresql://samcache@127.0.0.1:PORT/postgres
# which scripts/test.sh sources before ctest; the tests also read it from there when the
# variable is not set. Each test creates and drops a database of its own.
#
# PostgreSQL refuses to run as root: as root, the cluster runs as the `postgres` system user
# (created by Debian's package), with folders it owns.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
action="${1:-}"
build_dir="${2:-build}"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
services_dir="$build_dir/test-services"
pg_bin="${SAMCACHE_PG_BIN:-/usr/lib/postgresql/15/bin}"
pg_dir="$services_dir/postgres"
# As root, the postgres user must reach the cluster's folder; when a parent of the build folder
# is closed to it (e.g. a checkout under /root), the cluster lives in a folder of its own in /tmp.
if [ "$(id -u)" -eq 0 ] && [ "$action" = start -o "$action" = stop ]; then
  mkdir -p "$services_dir"
  if ! runuser -u postgres -- test -x "$services_dir"; then
    pg_dir="/tmp/samcache-test-postgres-$(printf '%s' "$services_dir" | cksum | cut -d' ' -f1)"
  fi
fi
pg_data="$pg_dir/data"
pg_socket="$pg_dir/socket"
pg_log="$pg_dir/postgres.log"
pg_user="samcache"
pg_password_user="samcache_password_user"
pg_password="samcache-test-secret"
env_file="$services_dir/env"

log() { printf '[test-services] %s\n' "$*" >&2; }

# Runs a command as the user that owns the cluster.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
  local port
  for port in $(seq 55432 55531); do
    if ! port_in_use "$port"; then
      echo "$port"
      return
    fi
  done
  log "no free port in 55432..55531"
  exit 1
}

stop_postgres() {
  if [ -f "$pg_data/postmaster.pid" ]; then
    as_owner "$pg_bin/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}

start_postgres() {
  [ -x "$pg_bin/initdb" ] || { log "PostgreSQL 15 is not installed ($pg_bin/initdb): run scripts/setup.sh"; exit 1; }
  stop_postgres  # a cluster a previous run left running
  rm -rf "$pg_dir"
  mkdir -p "$pg_dir" "$pg_socket"
  if [ "$(id -u)" -eq 0 ]; then
    chown -R postgres:postgres "$pg_dir"
    if ! runuser -u postgres -- test -w "$pg_dir"; then
      log "the postgres user cannot write to $pg_dir"
      exit 1
    fi
  fi
  as_owner "$pg_bin/initdb" -D "$pg_data" -U "$pg_user" --auth-local=trust --auth-host=reject \
    --encoding=UTF8 --locale=C.UTF-8 >"$pg_dir/initdb.log" 2>&1 || {
    cat "$pg_dir/initdb.log" >&2
    exit 1
  }
  # Trust for the test user on loopback; a password for the user of the authentication tests.
  cat >"$pg_data/pg_hba.conf" <<EOF
local all all                                trust
host  all $pg_user          127.0.0.1/32 trust
host  all $pg_password_user 127.0.0.1/32 scram-sha-256
EOF
  # Another run may take the same free port between the check and the start: try a few.
  local port="" attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if as_owner "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$pg_socket \
          -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null; then
      break
    fi
    if [ "$attempt" = 5 ]; then
      cat "$pg_log" >&2
      exit 1
    fi
    log "PostgreSQL did not start on port $port, trying another"
  done
  as_owner "$pg_bin/psql" -h "$pg_socket" -p "$port" -U "$pg_user" -d postgres -v ON_ERROR_STOP=1 -q \
    -c "CREATE ROLE $pg_password_user LOGIN PASSWORD '$pg_password'" >/dev/null
  cat >"$env_file" <<EOF
export SAMCACHE_TEST_POSTGRES_URL=postgresql://$pg_user@127.0.0.1:$port/postgres
export SAMCACHE_TEST_POSTGRES_PASSWORD_URL=postgresql://$pg_password_user:$pg_password@127.0.0.1:$port/postgres
EOF
  log "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $pg_data)"
}

case "$action" in
  start)
    mkdir -p "$services_dir"
    rm -f "$env_file"
    start_postgres
    ;;
  stop)
    stop_postgres
    rm -f "$env_file"
    rm -rf "$pg_dir"
    ;;
  *)
    echo "usage: $0 start|stop [BUILD_DIR]" >&2
    exit 2
    ;;
esac
