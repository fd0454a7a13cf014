#!/bin/sh
# healthcheck.sh of the mariadb image, as far as compose.yaml uses it: the
# server answers on its socket (the options are accepted and ignored).
exec mariadb-admin --socket=/run/mysqld/mysqld.sock --user=root ping >/dev/null
