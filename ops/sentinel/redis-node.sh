#!/bin/sh
# A Redis node of the Sentinel layout (docker-compose.sentinel.yml): `redis`, the first
# master, and `redis-replica`. Run as root in the redis image: it reads the passwords from
# the compose secrets, then hands the configuration to redis-server on its standard input
# ("-"), never on a command line; the image's docker-entrypoint.sh drops to the redis user.
#
# Its role at start: the master the Sentinels name now, if one of them answers (a node
# that restarts after a failover comes back as a replica of the new master, not as a
# second master); REDIS_REPLICA_OF when none answers (the first start: Sentinels start
# after the master). Both nodes get the same settings, masterauth included: either may
# be the master after a failover.
#
#   REDIS_ANNOUNCE_HOSTNAME      this node's name as the others reach it (required)
#   REDIS_PORT                   its port (6379)
#   REDIS_REPLICA_OF             "host port" to replicate when no Sentinel answers; empty: master
#   SENTINEL_MASTER_NAME         the master set's name (mymaster)
#   SENTINEL_ADDRESSES           "host:port ..." of the Sentinels to ask
#   REDIS_PASSWORD_FILE          requirepass and masterauth (/run/secrets/redis_password)
#   SENTINEL_PASSWORD_FILE       the Sentinels' own password; empty or absent: none
#   REDIS_MAXMEMORY              maxmemory (512mb), noeviction as in docker-compose.prod.yml
#   REDIS_MIN_REPLICAS_TO_WRITE  min-replicas-to-write (0: off), REDIS_MIN_REPLICAS_MAX_LAG (10)
#   REDIS_SERVER                 what runs the server (docker-entrypoint.sh redis-server);
#                                arguments to this script follow the configuration
set -o errexit -o nounset

: "${REDIS_ANNOUNCE_HOSTNAME:?name this node (REDIS_ANNOUNCE_HOSTNAME)}"
master_name=${SENTINEL_MASTER_NAME:-mymaster}
port=${REDIS_PORT:-6379}
password=$(cat "${REDIS_PASSWORD_FILE:-/run/secrets/redis_password}")
[ -n "$password" ] || { echo "redis-node: the Redis password is empty" >&2; exit 1; }
sentinel_password=""
if [ -r "${SENTINEL_PASSWORD_FILE:-/run/secrets/sentinel_password}" ]; then
  sentinel_password=$(cat "${SENTINEL_PASSWORD_FILE:-/run/secrets/sentinel_password}")
fi

# The master the Sentinels name: "host port", or nothing when none answers.
current_master() {
  for address in ${SENTINEL_ADDRESSES:-}; do
    if [ -n "$sentinel_password" ]; then
      answer=$(REDISCLI_AUTH=$sentinel_password timeout 3 redis-cli -h "${address%:*}" \
        -p "${address##*:}" --raw sentinel get-master-addr-by-name "$master_name" 2>/dev/null) || continue
    else
      answer=$(timeout 3 redis-cli -h "${address%:*}" -p "${address##*:}" --raw \
        sentinel get-master-addr-by-name "$master_name" 2>/dev/null) || continue
    fi
    answer_host=$(printf '%s\n' "$answer" | sed -n 1p)
    answer_port=$(printf '%s\n' "$answer" | sed -n 2p)
    case "$answer_port" in
      '' | *[!0-9]*) continue ;;
    esac
    echo "$answer_host $answer_port"
    return 0
  done
  return 0
}

master=$(current_master)
if [ -z "$master" ]; then
  master=${REDIS_REPLICA_OF:-}
  echo "redis-node: no Sentinel answered; starting as ${master:+a replica of }${master:-the master}" >&2
elif [ "$master" = "$REDIS_ANNOUNCE_HOSTNAME $port" ]; then
  echo "redis-node: the Sentinels name this node the master" >&2
  master=""
else
  echo "redis-node: the Sentinels name $master the master; starting as its replica" >&2
fi
replicaof=""
[ -z "$master" ] || replicaof="replicaof $master"

# shellcheck disable=SC2086 # REDIS_SERVER is a command and its words
exec ${REDIS_SERVER:-docker-entrypoint.sh redis-server} - "$@" <<CONF
port $port
requirepass "$password"
masterauth "$password"
appendonly yes
appendfsync everysec
maxmemory ${REDIS_MAXMEMORY:-512mb}
maxmemory-policy noeviction
replica-announce-ip $REDIS_ANNOUNCE_HOSTNAME
min-replicas-to-write ${REDIS_MIN_REPLICAS_TO_WRITE:-0}
min-replicas-max-lag ${REDIS_MIN_REPLICAS_MAX_LAG:-10}
$replicaof
CONF
