#!/usr/bin/env python3
"""Writes the hand-made seed corpora in corpus/<target>/ (run once; the outputs are kept in the repo).

Words follow shared/reference/quadra-stream.md and petlink32.md. No bytes of the real mMR sample are
used: every seed is built here from the contracts.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- Quadra-style 64-bit (the fuzzer decodes on the "mini" scanner: 24 crystals x 16 rings, TOF -4..4)
def q_event(a, b, tof, prompt=True):
    return (prompt << 62) | ((tof & 0x3F) << 56) | (a << 36) | (b << 18)


def q_marker(ms):
    return ((0x80000000 + (ms & 0x1FFFFFFF)) << 32) | (ms >> 29)


def q64(words):
    return b"".join(struct.pack("<Q", w) for w in words)


assert q_event(5, 7, -3) == 0x7D000050001C0000  # the contract's worked example
write("fuzz_decode_q64", "valid_stream", q64([
    q_marker(0), 0x7D000050001C0000, q_event(30, 200, 4), q_event(7, 5, 0, prompt=False),
    q_marker(1), (0xA0000000 + 1234) << 32 | 3,  # block singles, block 3
    0xE1001000 << 32, 0xFF000001 << 32, 0xC4000010 << 32,  # gating, control, bed
    q_event(383, 0, -4), q_marker(2), q_marker(3)]))
write("fuzz_decode_q64", "odd_stream", q64([
    q_event(1, 2, 1),  # before the first marker
    q_marker(5), q_marker(4),  # backwards
    q_marker(1 << 29 | 9),  # ms beyond 29 bits (extension word)
    q_event(5, 5, 0), q_event(400, 1, 0), q_event(1, 2, 9), q_event(1, 2, -16),  # invalid
    q_event(0, 383, 0) | 0x3FFFF, 0x9000000000000000, q_marker(12)]) + b"\x01\x02\x03")
write("fuzz_decode_q64", "as_32bit", struct.pack("<8I", 0x80000000, 0x40001234, 0x00005678, 0x80000001,
                                                 0xA0000010, 0x40ABCDEF, 0xE1001000, 0xFF000000))

# ---- PETLINK 32-bit (mMR: 344 x 252 x 4084 bin addresses)
N_ADDR = 344 * 252 * 4084


def p32(words):
    return b"".join(struct.pack("<I", w) for w in words)


write("fuzz_decode_petlink32", "valid_stream", p32([
    0x80000000, 0x40000000 | 0, 0x40000000 | 172, 0x40000000 | (344 * 252 * 64 + 1000), 0x00000000 | 5000,
    0x80000001, 0xA0000000 | (17 << 19) | 321, 0xE1001000, 0xFF000001, 0xC4000100,
    0x40000000 | (N_ADDR - 1), 0x80000002, 0x80000003]))
write("fuzz_decode_petlink32", "odd_stream", p32([
    0x40000007, 0x80000005, 0x80000004, 0x80000009, 0x40000000 | N_ADDR, 0x3FFFFFFF, 0x90000000,
    0xF0000000, 0x8000000A]) + b"\xAA\xBB")
write("fuzz_decode_petlink32", "as_64bit", q64([q_marker(0), 0x7D000050001C0000, q_event(9, 10, 0), q_marker(1)]))

# ---- Interfile headers
Q64_HDR = """!INTERFILE:=
!originating system:=1232
%SMS-MI header name space:=PETLINK detector pair
name of data file:=NAME.l
%LM event and tag words format (bits):=64
number of rings:=320
%crystals per ring:=760
%maximum ring difference:=322
%number of TOF time bins:=33
%TOF bin width (ps):=143.231
%TOF resolution (ps):=228
%coincidence window (ns):=4.73
%energy window lower level (keV) [1]:=435
%energy window upper level (keV) [1]:=585
isotope name:=F-18
isotope gamma halflife (sec):=6586.2
isotope branching factor:=0.9673
radiopharmaceutical:=FDG
tracer activity at time of injection (Bq):=2.1e+07
%tracer injection date (yyyy:mm:dd):=2026:11:22
%tracer injection time (hh:mm:ss GMT+00:00):=08:00:00
%study date (yyyy:mm:dd):=2026:11:22
%study time (hh:mm:ss GMT+00:00):=09:00:00
patient weight (kg):=70
image duration (sec):=1200
%timing tagwords interval (msec):=1
%singles polling interval (sec):=2
%total listmode word counts:=123456789
!END OF INTERFILE:=
"""
P32_HDR = """!INTERFILE:=\r
!originating system:=2008\r
%SMS-MI header name space:=PETLINK bin address\r
!data offset in bytes:=0\r
name of data file := scan.l\r
; a comment line\r
!PET STUDY (Emission data):=\r
number of rings:=64\r
%number of TOF time bins:=1\r
image duration (sec):=900\r
%LM event and tag words format (bits):=32\r
%axial compression:=1\r
%maximum ring difference:=60\r
%number of projections:=344\r
%number of views:=252\r
%segment table :={127,115, 115, 93}\r
"""
BAD_HDR = """# odd lines
!%Number   OF  Rings :=  sixty-four
image duration (sec):=1e999
%total listmode word counts:=-12
line without the separator
:=value without key
name of data file:=
isotope name:=F-18 := twice
"""
write("fuzz_interfile", "quadra64.l.hdr", Q64_HDR.encode())
write("fuzz_interfile", "petlink32.l.hdr", P32_HDR.encode())
write("fuzz_interfile", "malformed.hdr", BAD_HDR.encode() + b"\x00binary\xff tail")
