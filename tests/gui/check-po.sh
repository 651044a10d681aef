#!/bin/sh
# Every catalog in po/LINGUAS must compile cleanly and be complete: no untranslated or
# fuzzy message.
set -eu
podir="$1"
status=0
for lang in $(grep -v '^#' "$podir/LINGUAS"); do
  stats=$(LC_ALL=C msgfmt --check --statistics -o /dev/null "$podir/$lang.po" 2>&1)
  echo "$lang: $stats"
  case "$stats" in
    *untranslated*|*fuzzy*) status=1 ;;
  esac
done
exit $status
