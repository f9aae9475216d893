#!/usr/bin/env bash
# Start the machine's PostgreSQL cluster, create a role and database for the
# suite (the role may create the test database), and print its DATABASE_URL.
set -o errexit -o pipefail -o nounset

version=$(pg_lsclusters --no-header | awk 'NR==1 {print $1}')
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $2}')
port=$(pg_lsclusters --no-header | awk 'NR==1 {print $3}')
if [ -z "$version" ]; then
  echo "No PostgreSQL cluster on this machine (pg_lsclusters is empty)." >&2
  exit 1
fi
pg_ctlcluster "$version" "$cluster" start >&2 2>/dev/null || true
for _ in $(seq 100); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.1
done
pg_isready -h 127.0.0.1 -p "$port" >&2

psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -q -p $port $*"; }
psql_admin "-c \"DO \\\$\\\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'commission') THEN
    CREATE ROLE commission LOGIN CREATEDB PASSWORD 'commission';
  END IF; END \\\$\\\$;\"" >&2
if ! su postgres -c "psql -p $port -tAc \"SELECT 1 FROM pg_database WHERE datname = 'commission'\"" | grep -q 1; then
  su postgres -c "createdb -p $port -O commission commission" >&2
fi
echo "postgres://commission:commission@127.0.0.1:${port}/commission"
