# Throwaway PostgreSQL cluster for tests and benchmarks (sourced by
# scripts/test-postgres and scripts/bench-postgres).
#
#   pg_cluster_start   installs PostgreSQL from Debian's packages if missing,
#                      runs initdb in a temp dir, starts the server on
#                      127.0.0.1 on a random free port with a private socket
#                      directory, creates database `ihtest`, and exports
#                      IH_PG_URL (password auth), IH_PG_ADMIN_URL and
#                      IH_PG_RESTART (a command that crashes the server with
#                      `pg_ctl stop -m immediate` and starts it again).
#   pg_cluster_stop    stops the server and removes the temp dir (set as an
#                      EXIT trap by pg_cluster_start).
#
# As root (CI), the server runs as the `postgres` user, which the Debian
# package creates.

pg_find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_cluster_start() {
  local bin
  if ! bin="$(pg_find_bin)"; then
    echo "installing PostgreSQL from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    # No service start in the package scripts: we run our own cluster.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
      printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
      PG_POLICY_ADDED=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    [ "${PG_POLICY_ADDED:-}" = 1 ] && rm -f /usr/sbin/policy-rc.d
    bin="$(pg_find_bin)" || { echo "PostgreSQL install failed: no initdb" >&2; return 1; }
  fi
  PG_BIN="$bin"
  PG_TMP="$(mktemp -d /tmp/ih-pg.XXXXXX)"
  trap pg_cluster_stop EXIT
  chmod 755 "$PG_TMP"
  mkdir -p "$PG_TMP/data" "$PG_TMP/sock"
  local password
  password="ih-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  printf '%s\n' "$password" >"$PG_TMP/pw"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PG_TMP"
  pg_as_owner "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --pwfile="$PG_TMP/pw" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$PG_TMP/initdb.log" 2>&1 ||
    { cat "$PG_TMP/initdb.log" >&2; return 1; }
  PG_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_TMP/sock -c max_connections=200" start >/dev/null ||
    { cat "$PG_TMP/server.log" >&2; return 1; }
  pg_as_owner "$PG_BIN/psql" -h "$PG_TMP/sock" -p "$PG_PORT" -U postgres -d postgres -qAt \
    -c "CREATE DATABASE ihtest" >/dev/null
  export IH_PG_URL="postgres://postgres:$password@127.0.0.1:$PG_PORT/ihtest"
  export IH_PG_ADMIN_URL="postgres://postgres:$password@127.0.0.1:$PG_PORT/postgres"
  export IH_PG_RESTART="runuser -u postgres -- $PG_BIN/pg_ctl -D $PG_TMP/data -l $PG_TMP/server.log -w -t 60 -m immediate restart"
  [ "$(id -u)" = 0 ] || IH_PG_RESTART="$PG_BIN/pg_ctl -D $PG_TMP/data -l $PG_TMP/server.log -w -t 60 -m immediate restart"
  echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (data in $PG_TMP)"
}

pg_cluster_stop() {
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}
