#!/bin/sh
# Every catalog in po/LINGUAS must compile cleanly and translate every message the sources
# have now (the catalog merged with a template extracted afresh): none untranslated or fuzzy.
set -eu
root="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The keywords of meson's glib preset.
xgettext --directory="$root" --files-from="$root/po/POTFILES.in" --from-code=UTF-8 \
  --add-comments --keyword=_ --keyword=N_ --keyword=C_:1c,2 --keyword=NC_:1c,2 \
  --keyword=g_dcgettext:2 --keyword=g_dngettext:2,3 --keyword=g_dpgettext2:2c,3 \
  --output="$tmp/ivl.pot"
status=0
for lang in $(grep -v '^#' "$root/po/LINGUAS"); do
  LC_ALL=C msgfmt --check -o /dev/null "$root/po/$lang.po"
  msgmerge --quiet --no-fuzzy-matching -o "$tmp/$lang.po" "$root/po/$lang.po" "$tmp/ivl.pot"
  stats=$(LC_ALL=C msgfmt --statistics -o /dev/null "$tmp/$lang.po" 2>&1)
  echo "$lang: $stats"
  case "$stats" in
    *untranslated*|*fuzzy*) status=1 ;;
  esac
done
exit $status
