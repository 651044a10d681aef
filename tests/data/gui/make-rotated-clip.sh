#!/bin/sh
# Writes rotated.mov: 12 s of GStreamer's test pattern (colour bars, 1 fps, 160x96 as stored,
# Motion JPEG) whose track header carries a display matrix that turns it a quarter clockwise,
# as a phone held upright writes it. Players and the engine (videoflip
# video-direction=auto) show it 96 wide and 160 high. The GUI tests check that the clip
# dialog's preview does too.
#
# Usage: tests/data/gui/make-rotated-clip.sh [OUT]   (default: rotated.mov beside this script)
set -eu
out="${1:-$(dirname "$0")/rotated.mov}"
tmp="$out.tmp"
gst-launch-1.0 -q videotestsrc num-buffers=12 pattern=smpte \
  ! video/x-raw,width=160,height=96,framerate=1/1 ! jpegenc quality=50 \
  ! qtmux ! filesink location="$tmp"
# qtmux (1.22) writes an identity matrix; the rotation goes in with the matrix of a quarter
# turn clockwise, which qtdemux reads back as the image-orientation tag rotate-90.
/usr/bin/python3 - "$tmp" <<'PY'
import struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
at = data.find(b"tkhd")
assert at > 0 and data[at + 4] == 0, "a version 0 track header"
# version/flags, created, modified, track id, reserved, duration, reserved[2], layer,
# alternate group, volume, reserved: 40 bytes, then the 3x3 matrix (a b u / c d v / x y w).
matrix = at + 4 + 40
a, b, c, d = 0, 0x10000, -0x10000 & 0xFFFFFFFF, 0
struct.pack_into(">9I", data, matrix, a, b, 0, c, d, 0, 0, 0, 0x40000000)
open(path, "wb").write(data)
PY
mv "$tmp" "$out"
