#!/bin/sh
# Every JSON ivl reads goes through engine/json-check.c (depth, size, UTF-8, duplicate keys):
# a direct json-glib parser call anywhere else in the tree (tests/ aside) is a failure, and so is a
# json_object_get_*_with_default in engine/ or app/ (GLib logs a CRITICAL when the member has
# another type; json-check.h has typed reads).
set -eu
root="$1"
cd "$root"
status=0
direct=$(grep -rnE --include='*.c' --include='*.h' --include='*.cu' \
  --exclude-dir=tests --exclude-dir='build*' --exclude-dir=.git \
  'json_parser_load_from_|json_from_string' . |
  grep -v '^\./engine/json-check\.c:' || true)
if [ -n "$direct" ]; then
  echo "JSON parsed without ivl_json_parse_checked:"
  echo "$direct"
  status=1
fi
defaults=$(grep -rn --include='*.c' '_member_with_default' engine app || true)
if [ -n "$defaults" ]; then
  echo "json_object_get_*_with_default on untrusted input (use ivl_json_get_*):"
  echo "$defaults"
  status=1
fi
[ $status -ne 0 ] || echo "ok: every JSON parse is checked"
exit $status
