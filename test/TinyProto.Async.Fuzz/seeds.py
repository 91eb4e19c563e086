#!/usr/bin/env python3
"""Writes the fuzz target's seed inputs (into the directory given) from the recorded Python conversations in
test/TinyProto.Async.Tests/WireVectors: for each, what the client sent (fed to a server) and what the server sent (fed
to a client), with the target's flag byte (bit 0 server, bit 1 pipelined, bit 2 hooks) and chunking seed in front."""
import glob, json, os, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
for path in sorted(glob.glob(os.path.join(here, "..", "TinyProto.Async.Tests", "WireVectors", "*.json"))):
    name = os.path.splitext(os.path.basename(path))[0]
    events = json.load(open(path))["events"]
    for direction, server in (("C>S", 1), ("S>C", 0)):
        data = b"".join(bytes.fromhex(e["hex"]) for e in events if e["dir"] == direction and "hex" in e)
        data = data[:4096]  # long payloads add nothing but time
        for hooks in (0, 4):
            flags = server | hooks
            with open(os.path.join(out, f"{name}-{'server' if server else 'client'}-{'hook' if hooks else 'receive'}"), "wb") as f:
                f.write(bytes([flags, 7]) + data)
# Pipelined: a client asking (0xFB), two messages back to back, and a server granting.
with open(os.path.join(out, "pipelined-server"), "wb") as f:
    f.write(bytes([1 | 2, 3]) + bytes.fromhex("fb0000000268690000000121"))
with open(os.path.join(out, "pipelined-client"), "wb") as f:
    f.write(bytes([2, 3]) + bytes.fromhex("fbffff0000000268690000000121"))
