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
  if [ -n "${PG_STANDBY_DATA:-}" ] && [ -d "$PG_STANDBY_DATA" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_STANDBY_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${PG_TLS_DATA:-}" ] && [ -d "$PG_TLS_DATA" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TLS_DATA" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${PG_TMP:-}" ] && [ -d "$PG_TMP" ]; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}

# pg_tls_cluster_start (after pg_cluster_start): a second throwaway server
# with ssl=on, a CA and certificates made here with openssl (installed from
# Debian's packages if missing), and a pg_hba.conf with hostssl lines only
# (no plain TCP). Exports IH_PG_TLS_URL (postgres://postgres:PW@localhost:
# PORT/ihtest, no sslmode), IH_PG_TLS_CERTS (a directory with ca.crt, the
# CA that signed the server's certificate (SAN DNS:localhost only);
# other-ca.crt, an unrelated CA; client.crt/client.key, a client
# certificate for the role `ihcert`, which may log in only with it).
pg_tls_cluster_start() {
  if ! command -v openssl >/dev/null; then
    echo "installing openssl from Debian's packages"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null
  fi
  local t="$PG_TMP/tls" c="$PG_TMP/tls/certs" ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$t/data" "$c"
  (
    cd "$c"
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 2 -subj "/CN=ih test CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.crt -days 2 -subj "/CN=ih other CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=localhost"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext
    openssl req "${ec[@]}" -keyout client.key -out client.csr -subj "/CN=ihcert"
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile client.ext
  ) >"$t/openssl.log" 2>&1 || { cat "$t/openssl.log" >&2; return 1; }
  # libpq (and the store) refuse a client key that group or others can read.
  chmod 644 "$c"/*.crt && chmod 600 "$c/client.key"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$t" && chown -R postgres:postgres "$t/data"
  pg_as_owner "$PG_BIN/initdb" -D "$t/data" -U postgres --pwfile="$PG_TMP/pw" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 --no-sync >"$t/initdb.log" 2>&1 ||
    { cat "$t/initdb.log" >&2; return 1; }
  cp "$c/server.crt" "$c/server.key" "$c/ca.crt" "$t/data/"
  printf '%s\n' "local all all trust" \
    "hostssl all ihcert 127.0.0.1/32 cert" "hostssl all ihcert ::1/128 cert" \
    "hostssl all all 127.0.0.1/32 scram-sha-256" "hostssl all all ::1/128 scram-sha-256" >"$t/data/pg_hba.conf"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$t/data"/{server.crt,server.key,ca.crt,pg_hba.conf}
  chmod 600 "$t/data/server.key"
  PG_TLS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  pg_as_owner "$PG_BIN/pg_ctl" -D "$t/data" -l "$t/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_TLS_PORT -k $PG_TMP/sock -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key -c ssl_ca_file=ca.crt" \
    start >/dev/null || { cat "$t/server.log" >&2; return 1; }
  pg_as_owner "$PG_BIN/psql" -h "$PG_TMP/sock" -p "$PG_TLS_PORT" -U postgres -d postgres -qAt \
    -c "CREATE DATABASE ihtest" -c "CREATE ROLE ihcert LOGIN SUPERUSER" >/dev/null
  export IH_PG_TLS_URL="postgres://postgres:$(cat "$PG_TMP/pw")@localhost:$PG_TLS_PORT/ihtest"
  export IH_PG_TLS_CERTS="$c"
  PG_TLS_DATA="$t/data"
  echo "PostgreSQL with TLS (hostssl only) on localhost:$PG_TLS_PORT"
}

# pg_standby_start (after pg_cluster_start): a streaming standby of the
# cluster (`pg_basebackup -R`) on another port, made synchronous
# (synchronous_standby_names = '*': a commit is acknowledged once the
# standby has it). Exports IH_PG_FAILOVER_URL (both servers,
# target_session_attrs=read-write), IH_PG_KILL_PRIMARY (`pg_ctl stop -m
# immediate` of the primary) and IH_PG_PROMOTE (`pg_ctl promote` of the
# standby). The primary stays down after IH_PG_KILL_PRIMARY.
pg_standby_start() {
  local pw s="$PG_TMP/standby" run=()
  pw="$(cat "$PG_TMP/pw")"
  [ "$(id -u)" = 0 ] && run=(runuser -u postgres --)
  "${run[@]}" env PGPASSWORD="$pw" "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -D "$s" -R -X stream -c fast >"$PG_TMP/basebackup.log" 2>&1 || { cat "$PG_TMP/basebackup.log" >&2; return 1; }
  PG_STANDBY_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "${run[@]}" "$PG_BIN/pg_ctl" -D "$s" -l "$PG_TMP/standby.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_STANDBY_PORT -k $PG_TMP/sock -c max_connections=200" start >/dev/null ||
    { cat "$PG_TMP/standby.log" >&2; return 1; }
  PG_STANDBY_DATA="$s"
  "${run[@]}" "$PG_BIN/psql" -h "$PG_TMP/sock" -p "$PG_PORT" -U postgres -d postgres -qAt \
    -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null
  local i state=""
  for i in $(seq 1 100); do
    state="$("${run[@]}" "$PG_BIN/psql" -h "$PG_TMP/sock" -p "$PG_PORT" -U postgres -d postgres -qAt \
      -c "SELECT sync_state FROM pg_stat_replication LIMIT 1")"
    [ "$state" = sync ] && break
    sleep 0.1
  done
  [ "$state" = sync ] || { echo "the standby did not become synchronous (state: '$state')" >&2; return 1; }
  export IH_PG_FAILOVER_URL="postgres://postgres:$pw@127.0.0.1:$PG_PORT,127.0.0.1:$PG_STANDBY_PORT/ihtest?target_session_attrs=read-write&connect_timeout=2"
  export IH_PG_KILL_PRIMARY="${run[*]} $PG_BIN/pg_ctl -D $PG_TMP/data -w -t 60 -m immediate stop"
  export IH_PG_PROMOTE="${run[*]} $PG_BIN/pg_ctl -D $s -w -t 60 promote"
  echo "standby of 127.0.0.1:$PG_PORT on 127.0.0.1:$PG_STANDBY_PORT (synchronous)"
}
