#!/usr/bin/python3
"""Mark every function declaration of a header with DC_API (idempotent).

    tools/mark_dc_api.py include/deepc.h

For declarations added without the marker (tests/test_api.c names them: they are not exported
from libdeepc.so). The marker goes in front of the declaration; where that would push a line
over 100 columns it goes on a line of its own.
"""
import re, sys
p = sys.argv[1]
s = open(p).read().split('\n')
out = []
i = 0
incomment = False
fallback = 0
n = 0
while i < len(s):
    l = s[i]
    if incomment:
        out.append(l)
        if '*/' in l:
            incomment = False
        i += 1
        continue
    if l.lstrip().startswith('/*') and '*/' not in l:
        incomment = True
        out.append(l)
        i += 1
        continue
    m = re.match(r'^(const\s+)?(struct\s+)?(unsigned\s+)?[A-Za-z_][A-Za-z0-9_]*\s*\**\s*(dc_\w+)\s*\(', l)
    if not m or l.startswith(('typedef', 'static', 'DC_API')) or (out and out[-1] == 'DC_API'):
        out.append(l)
        i += 1
        continue
    j = i
    while ';' not in s[j]:
        j += 1
    block = s[i:j + 1]
    new = ['DC_API ' + block[0]] + [(' ' * 7 + c) if c.strip() else c for c in block[1:]]
    if any(len(x) > 100 for x in new):
        new = ['DC_API'] + block
        fallback += 1
    out += new
    n += 1
    i = j + 1
open(p, 'w').write('\n'.join(out))
print(n, 'declarations marked,', fallback, 'with DC_API on its own line', file=sys.stderr)
