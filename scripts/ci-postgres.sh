#!/usr/bin/env bash
# CI: a PostgreSQL server for the registry tests (src/store), on loopback.
# Installs Debian's postgresql if missing, starts the newest installed
# version's "main" cluster, makes a superuser role insel/insel and a database
# insel, and prints the admin URL the tests read from INSEL_TEST_PG (each
# test creates and drops its own database through it). Run as root; running
# it again changes nothing (a cluster already up stays up, the role stays).
set -euo pipefail
# Only the URL goes to stdout (the caller captures it); everything else to stderr.
# Whatever may start the server runs with fd 3 closed: a daemon that inherits
# the caller's pipe keeps $(...) waiting for ever (CI hung 90 min on this).
exec 3>&1 1>&2

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null 3>&-
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)

# Containers may install the package without creating the default cluster.
if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
  pg_createcluster "$ver" main >/dev/null 3>&-
fi

# Loopback only: Debian's default (unset = "localhost") is that already;
# anything else is set to 127.0.0.1, which needs a restart if it is running.
listen=$(pg_conftool -s "$ver" main show listen_addresses 2>/dev/null || true)
listen=${listen//\'/}
restart=no
case "$listen" in
  '' | localhost | 127.0.0.1) ;;
  *) pg_conftool "$ver" main set listen_addresses 127.0.0.1; restart=yes ;;
esac
port=$(pg_conftool -s "$ver" main show port 2>/dev/null || echo 5432)

status=$(pg_lsclusters -h | awk -v v="$ver" '$1 == v && $2 == "main" { print $4 }')
if [ "$status" != online ]; then
  pg_ctlcluster "$ver" main start 3>&- </dev/null
elif [ "$restart" = yes ]; then
  pg_ctlcluster "$ver" main restart 3>&- </dev/null
fi

psql_admin() { runuser -u postgres -- psql -p "$port" -X -q -v ON_ERROR_STOP=1 -tA "$@"; }
# The server may take a moment to accept connections after a start.
for _ in $(seq 1 50); do psql_admin -c 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
psql_admin -c "DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'insel') THEN CREATE ROLE insel LOGIN SUPERUSER PASSWORD 'insel'; END IF;
END \$\$;" >/dev/null
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = 'insel'")" != 1 ]; then
  psql_admin -c 'CREATE DATABASE insel OWNER insel' >/dev/null
fi

echo "postgres://insel:insel@127.0.0.1:${port}/insel" >&3
