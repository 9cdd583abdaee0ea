# shellcheck shell=bash
# Throwaway PostgreSQL and MariaDB servers for ferry's demo, tests and benchmarks.
#
# Source this file, then call `ferry_servers_up`. It installs the Debian packages it needs when they
# are missing, starts one PostgreSQL (wal_level=logical) and one MariaDB (row-based binlog with full
# images and metadata) in a fresh temporary directory on free ports, exports their URLs and stops
# both on exit, also when the caller fails. It never touches a server somebody else started.
#
# Both servers speak TLS with a certificate for `localhost` signed by a throwaway CA (openssl),
# so the tests can check every sslmode / ssl-mode, including a host name that does not match.
#
# Exports: FERRY_TEST_PG_URL, FERRY_TEST_MYSQL_URL, FERRY_PG_PORT, FERRY_MYSQL_PORT,
#          FERRY_MYSQL_SOCKET, FERRY_PG_SOCKET_DIR, FERRY_SERVERS_DIR,
#          FERRY_TEST_TLS_DIR (ca.pem, client.pem, client.key, other-ca.pem)

ferry_log() { printf '[ferry] %s\n' "$*" >&2; }

ferry_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    ferry_log "need root to run: $*"; return 1; fi
}

ferry_pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# Installs postgresql, mariadb-server (and any extra package names given) when absent.
ferry_install_packages() {
  local need=()
  [ -n "$(ferry_pg_bindir)" ] || need+=(postgresql postgresql-client)
  command -v psql >/dev/null || need+=(postgresql-client)
  command -v mariadb-install-db >/dev/null || need+=(mariadb-server)
  command -v mariadb >/dev/null || need+=(mariadb-client)
  command -v openssl >/dev/null || need+=(openssl)
  local p
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    ferry_log "installing Debian packages: ${need[*]}"
    ferry_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    # policy-rc.d keeps the packages from starting their own system servers.
    ferry_as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 \
      apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
}

# A free port below Linux's ephemeral range (32768+), so no client connection takes it between
# this check and the server's bind (nor while a test restarts the server on it).
ferry_free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 12000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

ferry_servers_down() {
  local d=${FERRY_SERVERS_DIR:-}
  [ -n "$d" ] && [ -d "$d" ] || return 0
  if [ -f "$d/mysql.pid" ]; then
    local pid; pid=$(cat "$d/mysql.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  if [ -f "$d/pg/postmaster.pid" ]; then
    ferry_pg_run "$(ferry_pg_bindir)/pg_ctl" -D "$d/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$d"
  FERRY_SERVERS_DIR=
}

# Runs a PostgreSQL server binary as a non-root user (initdb and postgres refuse root).
ferry_pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A CA, a server certificate for DNS name `localhost` (not 127.0.0.1: a verify-full test
# connects by address and must fail), a client certificate, and an unrelated CA.
ferry_make_certs() {
  local d="$FERRY_SERVERS_DIR/tls"
  mkdir -p "$d"
  (
    cd "$d" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ferry test CA" -keyout ca.key -out ca.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.pem
    openssl req -newkey rsa:2048 -nodes -subj "/CN=postgres" -keyout client.key -out client.csr
    printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=other CA" -keyout other-ca.key -out other-ca.pem
    chmod 600 ./*.key
  ) >"$FERRY_SERVERS_DIR/openssl.log" 2>&1 || { cat "$FERRY_SERVERS_DIR/openssl.log" >&2; return 1; }
  export FERRY_TEST_TLS_DIR=$d
}

# The certificates, unless this run (or the one that started us) made them already.
ferry_ensure_certs() {
  [ -n "${FERRY_TEST_TLS_DIR:-}" ] && [ -f "$FERRY_TEST_TLS_DIR/server.pem" ] && return 0
  ferry_make_certs
}

ferry_start_postgres() {
  local bindir port dir
  ferry_ensure_certs || return 1
  bindir=$(ferry_pg_bindir) || { ferry_log "PostgreSQL server binaries not found"; return 1; }
  dir="$FERRY_SERVERS_DIR/pg"
  port=$(ferry_free_port)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$FERRY_SERVERS_DIR" && chmod 755 "$FERRY_SERVERS_DIR"
  ferry_pg_run "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$FERRY_SERVERS_DIR/initdb.log" 2>&1 \
    || { cat "$FERRY_SERVERS_DIR/initdb.log" >&2; return 1; }
  cp "$FERRY_TEST_TLS_DIR/server.pem" "$FERRY_TEST_TLS_DIR/server.key" "$FERRY_TEST_TLS_DIR/ca.pem" "$dir/"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir/server.pem" "$dir/server.key" "$dir/ca.pem"
  chmod 600 "$dir/server.key"
  cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 256MB
maintenance_work_mem = 256MB
max_wal_size = 4GB
timezone = 'UTC'
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server.key'
ssl_ca_file = 'ca.pem'
CONF
  ferry_launch_postgres || return 1
  export FERRY_PG_PORT=$port FERRY_PG_SOCKET_DIR=$dir
  export FERRY_TEST_PG_URL="postgres://postgres@127.0.0.1:$port/postgres"
  ferry_log "PostgreSQL $("$bindir/postgres" --version | grep -o '[0-9][0-9.]*' | head -n 1) on 127.0.0.1:$port"
}

# (Re)starts the PostgreSQL of $FERRY_SERVERS_DIR (initialised by ferry_start_postgres).
ferry_launch_postgres() {
  ferry_pg_run "$(ferry_pg_bindir)/pg_ctl" -D "$FERRY_SERVERS_DIR/pg" -l "$FERRY_SERVERS_DIR/pg.log" -w -t 60 start >/dev/null \
    || { cat "$FERRY_SERVERS_DIR/pg.log" >&2; return 1; }
}

# Restarts PostgreSQL (fast shutdown: sessions are cut, as in a real restart).
ferry_restart_postgres() {
  ferry_pg_run "$(ferry_pg_bindir)/pg_ctl" -D "$FERRY_SERVERS_DIR/pg" -m fast -w -t 60 stop >/dev/null || return 1
  ferry_launch_postgres
}

ferry_start_mariadb() {
  local port dir
  ferry_ensure_certs || return 1
  dir="$FERRY_SERVERS_DIR/mysql"
  port=$(ferry_free_port)
  mkdir -p "$dir/data" "$dir/tmp"
  # Its own tmpdir (see ferry_launch_mariadb); and once more from scratch if the bootstrap
  # server dies (seen once as a segfault on a loaded machine).
  local attempt
  for attempt in 1 2; do
    if mariadb-install-db --no-defaults --datadir="$dir/data" --user="$(id -un)" --tmpdir="$dir/tmp" \
      --auth-root-authentication-method=normal --skip-test-db >"$FERRY_SERVERS_DIR/mysql-install.log" 2>&1; then
      break
    fi
    [ "$attempt" = 1 ] || { cat "$FERRY_SERVERS_DIR/mysql-install.log" >&2; return 1; }
    ferry_log "mariadb-install-db failed; trying once more"
    rm -rf "$dir/data"; mkdir -p "$dir/data"
  done
  local tries=0
  until FERRY_MYSQL_PORT=$port ferry_launch_mariadb; do
    # The port was taken between the check and the bind: another one.
    tries=$((tries + 1)); [ "$tries" -lt 3 ] || return 1
    port=$(ferry_free_port)
  done
  export FERRY_MYSQL_PORT=$port FERRY_MYSQL_SOCKET="$dir/mysql.sock"
  export FERRY_TEST_MYSQL_URL="mysql://root@127.0.0.1:$port/"
  ferry_log "MariaDB $(mariadb --no-defaults -uroot -h127.0.0.1 -P"$port" -N -e 'select version()') on 127.0.0.1:$port"
}

# Stops the MariaDB of $FERRY_SERVERS_DIR (normal shutdown) and starts it again on its port.
ferry_restart_mariadb() {
  local pid; pid=$(cat "$FERRY_SERVERS_DIR/mysql.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  ferry_launch_mariadb
}

# (Re)starts the MariaDB of $FERRY_SERVERS_DIR on $FERRY_MYSQL_PORT.
ferry_launch_mariadb() {
  local dir="$FERRY_SERVERS_DIR/mysql" port=$FERRY_MYSQL_PORT
  local mysqld; mysqld=$(command -v mariadbd || echo /usr/sbin/mariadbd)
  # Its own tmpdir: a MariaDB starting up clears leftover temporary tables in its tmpdir, which
  # in a shared /tmp would be another server's live ones (seen as "Error on delete of
  # '/tmp/#sql-temptable-…'" in a parallel test).
  mkdir -p "$dir/tmp"
  "$mysqld" --no-defaults --datadir="$dir/data" --user="$(id -un)" --tmpdir="$dir/tmp" \
    --port="$port" --bind-address=127.0.0.1 --socket="$dir/mysql.sock" \
    --pid-file="$FERRY_SERVERS_DIR/mysql.pid" --log-error="$FERRY_SERVERS_DIR/mysql.err" \
    --server-id=1 --log-bin="$dir/binlog" --binlog-format=ROW --binlog-row-image=FULL \
    --binlog-row-metadata=FULL --innodb-flush-log-at-trx-commit=0 --sync-binlog=0 \
    --innodb-buffer-pool-size=512M --max-connections=300 --character-set-server=utf8mb4 \
    --collation-server=utf8mb4_general_ci --default-time-zone=+00:00 \
    --ssl-cert="$FERRY_TEST_TLS_DIR/server.pem" --ssl-key="$FERRY_TEST_TLS_DIR/server.key" --ssl-ca="$FERRY_TEST_TLS_DIR/ca.pem" >/dev/null 2>&1 &
  local pid=$! ok=
  for _ in $(seq 1 300); do
    if mariadb --no-defaults -uroot -h127.0.0.1 -P"$port" -e 'select 1' >/dev/null 2>&1; then ok=1; break; fi
    kill -0 "$pid" 2>/dev/null || break   # it gave up (e.g. the port is taken)
    sleep 0.2
  done
  [ -n "$ok" ] || { cat "$FERRY_SERVERS_DIR/mysql.err" >&2; return 1; }
}

# Installs what is missing, then starts both servers; stops them when the calling shell exits.
ferry_servers_up() {
  ferry_install_packages "$@" || return 1
  FERRY_SERVERS_DIR=$(mktemp -d /tmp/ferry-servers.XXXXXX)
  export FERRY_SERVERS_DIR
  trap 'ferry_rc=$?; ferry_servers_down || true; exit $ferry_rc' EXIT
  trap 'exit 130' INT TERM
  # Servers start after every apt step: an upgrade must not replace binaries under a running server.
  ferry_start_postgres || return 1
  ferry_start_mariadb || return 1
}

ferry_mysql() { mariadb --no-defaults -uroot -h127.0.0.1 -P"$FERRY_MYSQL_PORT" "$@"; }
ferry_psql() { psql -X -q -v ON_ERROR_STOP=1 "$FERRY_TEST_PG_URL" "$@"; }

# Loads a MySQL script into database $1 (created fresh). MySQL-5.7-only parts written as
# /*!50705 … */ (Sakila's GEOMETRY column) are uncommented, since MariaDB skips them.
ferry_load_mysql_script() {
  local db=$1; shift
  ferry_mysql -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\` CHARACTER SET utf8mb4"
  local f
  for f in "$@"; do
    sed -E 's#/\*!50705 ([^*]*)\*/#\1#g' "$f" | ferry_mysql "$db" || return 1
  done
}
