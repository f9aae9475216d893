#!/bin/sh
# A Sentinel of the Sentinel layout (docker-compose.sentinel.yml). Run as root in the redis
# image: it writes sentinel.conf into its volume from the environment and the compose
# secrets, then starts redis-server in Sentinel mode through the image's
# docker-entrypoint.sh, which hands the volume to the redis user and drops to it.
#
# Sentinel rewrites that file as it learns (the current master, the replicas, the other
# Sentinels, the epochs): on a restart the state it wrote is kept, master address
# included, and the rest is written again from the environment, so a changed password or
# timeout takes effect. The file holds the Redis password (`sentinel auth-pass`), as
# Sentinel itself needs: it lives in the Sentinel's own volume, mode 0600.
#
#   SENTINEL_ANNOUNCE_HOSTNAME    this Sentinel's name as the others reach it (required)
#   SENTINEL_MASTER_NAME          the master set's name (mymaster)
#   SENTINEL_MONITOR_HOST, _PORT  the first master (redis 6379); SENTINEL_QUORUM (2)
#   SENTINEL_DOWN_AFTER_MS        unanswered this long, the master is down (10000; 2000 at
#                                 least: Sentinel pings once a second, and at 1000 it called
#                                 a just-promoted master down and failed over again)
#   SENTINEL_FAILOVER_TIMEOUT_MS  failover-timeout (60000)
#   SENTINEL_PORT                 26379; SENTINEL_DIR: where sentinel.conf lives (/data)
#   REDIS_PASSWORD_FILE           the nodes' password (/run/secrets/redis_password)
#   SENTINEL_PASSWORD_FILE        this Sentinel's own requirepass; empty or absent: none
#   REDIS_SERVER                  what runs the server (docker-entrypoint.sh redis-server);
#                                 arguments to this script follow --sentinel
set -o errexit -o nounset

: "${SENTINEL_ANNOUNCE_HOSTNAME:?name this Sentinel (SENTINEL_ANNOUNCE_HOSTNAME)}"
name=${SENTINEL_MASTER_NAME:-mymaster}
dir=${SENTINEL_DIR:-/data}
conf=$dir/sentinel.conf
password=$(cat "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
[ -n "$password" ] || { echo "sentinel: the Redis password is empty" >&2; exit 1; }
down_after=${SENTINEL_DOWN_AFTER_MS:-10000}
[ "$down_after" -ge 2000 ] 2>/dev/null || {
  echo "sentinel: SENTINEL_DOWN_AFTER_MS must be milliseconds, 2000 or more (not '$down_after')" >&2
  exit 1
}
sentinel_password=""
if [ -r "${SENTINEL_PASSWORD_FILE:-/run/secrets/sentinel_password}" ]; then
  sentinel_password=$(cat "${SENTINEL_PASSWORD_FILE:-/run/secrets/sentinel_password}")
fi

# What an earlier run learnt: the master's current address, and the state lines.
monitor="${SENTINEL_MONITOR_HOST:-redis} ${SENTINEL_MONITOR_PORT:-6379}"
state=""
if [ -f "$conf" ]; then
  known=$(sed -n "s/^sentinel monitor $name \([^ ]*\) \([0-9]*\) .*/\1 \2/p" "$conf" | tail -n 1)
  [ -z "$known" ] || monitor=$known
  state=$(grep -E "^sentinel (myid|current-epoch) |^sentinel (config-epoch|leader-epoch|known-replica|known-sentinel) $name " "$conf" || true)
fi

umask 077
cat > "$conf.new" <<CONF
port ${SENTINEL_PORT:-26379}
dir $dir
sentinel resolve-hostnames yes
sentinel announce-hostnames yes
sentinel announce-ip $SENTINEL_ANNOUNCE_HOSTNAME
sentinel monitor $name $monitor ${SENTINEL_QUORUM:-2}
sentinel auth-pass $name $password
sentinel down-after-milliseconds $name $down_after
sentinel failover-timeout $name ${SENTINEL_FAILOVER_TIMEOUT_MS:-60000}
sentinel parallel-syncs $name 1
CONF
[ -z "$sentinel_password" ] || echo "requirepass \"$sentinel_password\"" >> "$conf.new"
[ -z "$state" ] || printf '%s\n' "$state" >> "$conf.new"
mv "$conf.new" "$conf"

# shellcheck disable=SC2086 # REDIS_SERVER is a command and its words
exec ${REDIS_SERVER:-docker-entrypoint.sh redis-server} "$conf" --sentinel "$@"
