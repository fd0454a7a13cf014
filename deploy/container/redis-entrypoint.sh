#!/bin/sh
# The part of the redis image's entry point that compose.yaml relies on: a
# redis-server started without --protected-mode gets `--protected-mode no`
# (the other containers of the stack reach it over the compose network).
set -eu
if [ "${1:-}" = redis-server ]; then
  protected=yes
  for arg in "$@"; do
    [ "$arg" = --protected-mode ] && protected=
  done
  [ -n "$protected" ] && set -- "$@" --protected-mode no
fi
exec "$@"
