#!/usr/bin/python3
"""Fails when a source or data file has translatable strings but po/POTFILES.in omits it,
or when POTFILES.in names a file that does not exist."""
import os
import re
import sys

root = sys.argv[1]
C_MARK = re.compile(r'\b(_|N_|C_|NC_|ngettext)\s*\(')
UI_MARK = re.compile(r'translatable="yes"')

listed = set()
with open(os.path.join(root, 'po', 'POTFILES.in'), encoding='utf-8') as f:
    for line in f:
        line = line.strip()
        if line and not line.startswith('#'):
            listed.add(line)

needed = set()
for top in ('app', 'engine', 'data'):
    for dirpath, _, names in os.walk(os.path.join(root, top)):
        for name in names:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if name.endswith('.c'):
                with open(path, encoding='utf-8') as f:
                    if C_MARK.search(f.read()):
                        needed.add(rel)
            elif name.endswith('.ui'):
                with open(path, encoding='utf-8') as f:
                    if UI_MARK.search(f.read()):
                        needed.add(rel)
            elif name.endswith(('.desktop.in', '.metainfo.xml.in', '.gschema.xml')):
                needed.add(rel)

status = 0
for rel in sorted(needed - listed):
    print(f'po/POTFILES.in misses {rel}')
    status = 1
for rel in sorted(listed):
    if not os.path.exists(os.path.join(root, rel)):
        print(f'po/POTFILES.in lists {rel}, which does not exist')
        status = 1
print(f'{len(listed)} files listed, {len(needed)} with translatable strings')
sys.exit(status)
