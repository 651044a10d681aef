#!/bin/sh
# build/app/chat/ivl-chat, run straight from the build tree with no schema path set, must find
# the build's GSettings schema (GSettings aborts without one) and keep running.
set -u
exe="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
env -u GSETTINGS_SCHEMA_DIR XDG_DATA_HOME="$tmp" XDG_CONFIG_HOME="$tmp" \
  GSETTINGS_BACKEND=memory timeout 5 "$exe" >"$tmp/log" 2>&1
status=$?
cat "$tmp/log"
# 124: still running when timeout stopped it, as it should be.
[ "$status" -eq 124 ] || { echo "ivl-chat exited with $status"; exit 1; }
