#!/bin/sh
# Sets up a Debian 12 machine, builds ivl and starts it: the chat window where a display
# exists, else the command-line demo.
set -eu
cd "$(dirname "$0")/.."

./tools/setup-debian.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -x build/app/chat/ivl-chat ]; then
  # Run from the build tree: its compiled GSettings schema and the source tree's tokenizer
  # (for the demo model) stand in for the installed ones.
  GSETTINGS_SCHEMA_DIR="$PWD/build/data${GSETTINGS_SCHEMA_DIR:+:$GSETTINGS_SCHEMA_DIR}" \
  IVL_TOKENIZER_DIR="$PWD/tests/data/tokenizer/qwen2.5" \
    exec build/app/chat/ivl-chat "$@"
fi
exec build/app/ivl demo "$@"
