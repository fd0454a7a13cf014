#!/bin/sh
# The part of the mariadb image's entry point that compose.yaml relies on:
# options as arguments, a datadir initialized on first start, and the database
# and user of MARIADB_DATABASE, MARIADB_USER and MARIADB_PASSWORD (granted all
# on that database only). Root logs in through the socket only. It listens on
# every address of its network namespace (Debian's configuration says loopback).
set -eu
case "${1:-}" in -*) set -- mariadbd "$@" ;; esac
if [ "${1:-}" != mariadbd ]; then
  exec "$@"
fi
shift
datadir=/var/lib/mysql
mkdir -p /run/mysqld
chown mysql:mysql "$datadir" /run/mysqld
if [ ! -d "$datadir/mysql" ]; then
  echo "entrypoint: initializing $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" \
    --auth-root-authentication-method=socket --skip-test-db >/dev/null
fi
init=/run/mysqld/init.sql
: >"$init"
if [ -n "${MARIADB_DATABASE:-}" ]; then
  echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\` CHARACTER SET utf8mb4;" >>"$init"
fi
if [ -n "${MARIADB_USER:-}" ]; then
  password=$(printf '%s' "${MARIADB_PASSWORD:-}" | sed "s/'/''/g")
  echo "CREATE USER IF NOT EXISTS '$MARIADB_USER'@'%' IDENTIFIED BY '$password';" >>"$init"
  if [ -n "${MARIADB_DATABASE:-}" ]; then
    echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';" >>"$init"
  fi
fi
chown mysql "$init"
exec /usr/sbin/mariadbd --user=mysql --datadir="$datadir" --init-file="$init" \
  --bind-address=0.0.0.0 "$@"
