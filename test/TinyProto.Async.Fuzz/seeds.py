#!/usr/bin/env python3
"""Writes a fuzz target's seed inputs (into the directory given) from the recorded Python conversations in
test/TinyProto.Async.Tests/WireVectors: for each, what the client sent (fed to a server) and what the server sent (fed
to a client). For the connection target each has the flag byte (bit 0 server, bit 1 pipelined, bit 2 hooks) and the
chunking seed in front; for the codec target the chunking seed, and PROXY v1 and v2 headers are added.
Usage: seeds.py DIRECTORY [connection|codec]"""
import glob, json, os, sys

out = sys.argv[1]
target = sys.argv[2] if len(sys.argv) > 2 else "connection"
os.makedirs(out, exist_ok=True)
here = os.path.dirname(os.path.abspath(__file__))
for path in sorted(glob.glob(os.path.join(here, "..", "TinyProto.Async.Tests", "WireVectors", "*.json"))):
    name = os.path.splitext(os.path.basename(path))[0]
    events = json.load(open(path))["events"]
    for direction, server in (("C>S", 1), ("S>C", 0)):
        data = b"".join(bytes.fromhex(e["hex"]) for e in events if e["dir"] == direction and "hex" in e)
        data = data[:4096]  # long payloads add nothing but time
        if target == "codec":
            # The codec reads from a message boundary: leave out the opening byte.
            with open(os.path.join(out, f"{name}-{'to-server' if server else 'to-client'}"), "wb") as f:
                f.write(bytes([7]) + data[1:])
            continue
        for hooks in (0, 4):
            flags = server | hooks
            with open(os.path.join(out, f"{name}-{'server' if server else 'client'}-{'hook' if hooks else 'receive'}"), "wb") as f:
                f.write(bytes([flags, 7]) + data)
if target == "codec":
    v2 = bytes.fromhex("0d0a0d0a000d0a515549540a" "2111000c" "7f000001" "7f000002" "d431" "1f90")
    seeds = {
        "proxy-v1": b"PROXY TCP4 127.0.0.1 127.0.0.2 54321 8080\r\n\xff",
        "proxy-v1-unknown": b"PROXY UNKNOWN\r\n",
        "proxy-v2": v2 + b"\xff",
        "proxy-v2-local": bytes.fromhex("0d0a0d0a000d0a515549540a" "20000000"),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([5]) + data)
    sys.exit(0)
# Pipelined: a client asking (0xFB), two messages back to back, and a server granting.
with open(os.path.join(out, "pipelined-server"), "wb") as f:
    f.write(bytes([1 | 2, 3]) + bytes.fromhex("fb0000000268690000000121"))
with open(os.path.join(out, "pipelined-client"), "wb") as f:
    f.write(bytes([2, 3]) + bytes.fromhex("fbffff0000000268690000000121"))
