#!/usr/bin/python3
"""pcsc_check.py - pyscard (python3-pyscard) drives the virtual chip that
test_pcsc.sh serves through pcscd and vpcd.

Usage: /usr/bin/python3 pcsc_check.py READER ATR_HEX CONTENT_HEX

Checks, each printed as "ok: ..." (the first failure prints "FAIL: ..." and
exits 1):
  - the reader is listed, its card's ATR is ATR_HEX, the protocol is T=1
  - SELECT of the DF by name (P2 0C): 9000, no data
  - SELECT of EF01 with FCP (P2 04, no Le): 61xx, then GET RESPONSE gives
    the FCP template: 62, with 80 02 00 20 (32 bytes) and 83 02 EF 01
  - READ BINARY of 32 bytes: CONTENT_HEX, 9000
  - READ BINARY past the end (offset 32): 6B00
  - GET CHALLENGE 8, twice: 8 bytes each, 9000, and the two differ
  - an unknown instruction: 6D00; a missing file: 6A82
  - after a reset (reconnect), the selection is gone: READ BINARY 6986
"""

import sys

from smartcard.System import readers
from smartcard.scard import SCARD_RESET_CARD
from smartcard.util import toHexString, toBytes

checks = 0


def ok(what):
    global checks
    checks += 1
    print("ok: " + what)


def fail(what):
    print("FAIL: " + what)
    sys.exit(1)


def expect(cond, what):
    if not cond:
        fail(what)
    ok(what)


def main():
    if len(sys.argv) != 4:
        fail("usage: pcsc_check.py READER ATR_HEX CONTENT_HEX")
    name, atr_hex, content_hex = sys.argv[1:]
    found = [r for r in readers() if str(r) == name]
    expect(len(found) == 1, "reader '%s' listed" % name)
    conn = found[0].createConnection()
    conn.connect()
    atr = toHexString(conn.getATR()).replace(" ", "")
    expect(atr == atr_hex.upper(), "ATR %s" % atr)
    expect(conn.getProtocol() == 2, "protocol T=1 (pyscard 2)")

    def tx(apdu_hex):
        data, sw1, sw2 = conn.transmit(toBytes(apdu_hex))
        return bytes(data), (sw1 << 8) | sw2

    data, sw = tx("00A4040C08F043415244464142")
    expect(sw == 0x9000 and data == b"", "SELECT DF by name: 9000")

    data, sw = tx("00A4000402EF01")
    expect(sw >> 8 == 0x61, "SELECT EF01 with FCP, no Le: %04X" % sw)
    data, sw = tx("00C00000%02X" % (sw & 0xFF))
    expect(sw == 0x9000 and data[:1] == b"\x62",
           "GET RESPONSE: FCP template, 9000")
    expect(bytes.fromhex("80020020") in data and
           bytes.fromhex("8302EF01") in data,
           "FCP holds size 32 and FID EF01: %s" % data.hex().upper())

    data, sw = tx("00B0000020")
    expect(sw == 0x9000 and data == bytes.fromhex(content_hex),
           "READ BINARY 32: the content written at initialization")
    data, sw = tx("00B0002001")
    expect(sw == 0x6B00, "READ BINARY past the end: %04X" % sw)

    c1, sw1 = tx("0084000008")
    c2, sw2 = tx("0084000008")
    expect(sw1 == sw2 == 0x9000 and len(c1) == len(c2) == 8 and c1 != c2,
           "GET CHALLENGE 8, twice: two different 8-byte challenges")

    data, sw = tx("00100000")
    expect(sw == 0x6D00, "unknown instruction: 6D00")
    data, sw = tx("00A4000C021234")
    expect(sw == 0x6A82, "SELECT of a missing file: 6A82")

    conn.reconnect(disposition=SCARD_RESET_CARD)
    data, sw = tx("00B0000001")
    expect(sw == 0x6986, "after a reset nothing is selected: %04X" % sw)
    conn.disconnect()
    print("pyscard: %d checks passed" % checks)


main()
