#!/bin/sh
# build/app/chat/ivl-chat, run straight from the build tree with no schema path set, must find
# the build's GSettings schema (GSettings aborts without one) and keep running.
set -u
exe="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
env -u GSETTINGS_SCHEMA_DIR XDG_DATA_HOME="$tmp" XDG_CONFIG_HOME="$tmp" \
  GSETTINGS_BACKEND=memory "$exe" >"$tmp/log" 2>&1 &
pid=$!
sleep 4
if kill -0 "$pid" 2>/dev/null; then
  kill "$pid"
  wait "$pid" 2>/dev/null
  exit 0
fi
wait "$pid"
echo "ivl-chat exited with $? before it was closed:"
cat "$tmp/log"
exit 1
