#!/usr/bin/env python3
"""The shared library exports exactly the functions its public headers
declare with SECMSG_API: nothing internal leaks, nothing declared is missing."""
import re
import subprocess
import sys
from pathlib import Path

lib, include_dir = sys.argv[1], Path(sys.argv[2])
declared = set()
for h in include_dir.rglob("*.h"):
    text = h.read_text()
    for m in re.finditer(r"SECMSG_API\s+[^;(]*?\b(secmsg_\w+)\s*\(", text):
        declared.add(m.group(1))

out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                     capture_output=True, text=True).stdout
exported = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "TtWDdBbRr" and parts[1].isupper():
        exported.add(parts[2].split("@")[0])
exported.discard("SECMSG_0")

missing = sorted(declared - exported)
extra = sorted(exported - declared)
for name in missing:
    print(f"declared but not exported: {name}")
for name in extra:
    print(f"exported but not declared in a public header: {name}")
print(f"{len(declared)} declared, {len(exported)} exported")
sys.exit(1 if missing or extra or not declared else 0)
