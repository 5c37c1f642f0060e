#!/usr/bin/python3
"""vsmartcard_apdu.py - the baseline of bench/cos_apdu: APDUs per second
through vsmartcard's Python virtual card.

vsmartcard's `vicc` serves a card OS object to pcscd; for its "iso7816" card
type it builds the master file and SAM with CardGenerator("iso7816") and wraps
them in an Iso7816OS, whose execute(capdu) -> rapdu is the whole card. We build
the card the same way, add a 1,024-byte transparent EF (FID 0101) to its file
system, and call execute() in process, single thread, no socket: the same
thing bench/cos_apdu.c does with cos_transmit().

Each APDU kind runs for a fixed wall time (time.perf_counter, monotonic) and
every response is checked (length and status word; the reads' data against
the file's content at the end), so that an error can never be fast:

  select      00 A4 00 0C 02 0101          9000
  read16      00 B0 00 00 10               16 bytes 9000
  read128     00 B0 00 00 80               128 bytes 9000
  read256     00 B0 00 00 00               256 bytes 9000
  update128   00 D6 00 00 80 <128> 00      6282 (see below); data read back
  verify      00 20 00 01 04 "1234"        9000
  unknown     00 10 00 00                  6D00

Two quirks of vsmartcard (Debian python3-virtualsmartcard 3.3), worked around
here and nowhere patched:
  - UPDATE BINARY without Le (case 3) raises TypeError in
    Iso7816OS.formatResult (`le > len(data)` with le None) after the update
    was done. So we send it as case 4 with Le 00: it answers 6282 ("end of
    file before Le bytes": it has no data to give back), which we accept, and
    we check by READ BINARY after the timed run that the writes landed.
  - SELECT with P2 00 or 04 (FCI, FCP) crashes in the FCP encoder: P2 0C.

Output, one line a kind, for bench/cos_apdu.sh:
  apdu <kind> <count> <seconds> <apdus_per_second>

Usage: /usr/bin/python3 bench/vsmartcard_apdu.py [--seconds S] [--fill N]
                                                  [--kinds a,b]
Needs python3-virtualsmartcard and python3-pycryptodome (Cryptodome): the
package imports `Crypto`, so a temporary directory with a symlink
Crypto -> Cryptodome goes on sys.path when `Crypto` itself is missing.
"""

import argparse
import atexit
import logging
import os
import shutil
import sys
import tempfile
import time

# Where Debian's python3-virtualsmartcard puts the package (not on sys.path):
# /usr/lib/python3/site-packages/virtualsmartcard/virtualsmartcard/. Also
# accept a layout with the package directly under site-packages, or a path
# given in $VSMARTCARD_PYTHONPATH.
VSC_CANDIDATES = [
    os.environ.get("VSMARTCARD_PYTHONPATH", ""),
    "/usr/lib/python3/site-packages/virtualsmartcard",
    "/usr/lib/python3/site-packages",
]
CRYPTODOME = "/usr/lib/python3/dist-packages/Cryptodome"

EF_FID = 0x0101
EF_SIZE = 1024
# What the EF holds during the reads (cos_apdu.c writes the same).
EF_DATA = bytes((i * 13 + 5) & 0xFF for i in range(EF_SIZE))
PIN = b"1234"  # CardGenerator's iso7816 default; cos_apdu.c uses the same

KINDS = ["select", "read16", "read128", "read256", "update128", "verify",
         "unknown"]


def setup_path():
    for d in VSC_CANDIDATES:
        if d and os.path.isfile(os.path.join(d, "virtualsmartcard",
                                             "VirtualSmartcard.py")):
            if d not in sys.path:
                sys.path.insert(0, d)
            break
    else:
        sys.exit("vsmartcard_apdu: virtualsmartcard package not found "
                 "(install python3-virtualsmartcard or set "
                 "VSMARTCARD_PYTHONPATH)")
    try:
        import Crypto.Cipher  # noqa: F401  (PyCrypto or pycryptodome)
    except ImportError:
        if not os.path.isdir(CRYPTODOME):
            sys.exit("vsmartcard_apdu: neither Crypto nor %s" % CRYPTODOME)
        shim = tempfile.mkdtemp(prefix="vsc-crypto-")
        atexit.register(shutil.rmtree, shim, True)
        os.symlink(CRYPTODOME, os.path.join(shim, "Crypto"))
        sys.path.insert(0, shim)
        for name in [m for m in sys.modules if m.split(".")[0] == "Crypto"]:
            del sys.modules[name]


def make_card(fill=0):
    """The card as vicc makes it for --type iso7816, plus our EF (after
    `fill` other EFs, as cos_apdu --fill does)."""
    from virtualsmartcard.CardGenerator import CardGenerator
    from virtualsmartcard.SmartcardFilesystem import TransparentStructureEF
    from virtualsmartcard.VirtualSmartcard import Iso7816OS

    # CardGenerator warns that it uses its default PIN; that is the point.
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    mf, sam = CardGenerator("iso7816").getCard()
    logging.getLogger().setLevel(level)
    if sam.PIN != PIN:
        sys.exit("vsmartcard_apdu: unexpected default PIN %r" % sam.PIN)
    for i in range(fill):
        mf.append(TransparentStructureEF(parent=mf, fid=0x2000 + i,
                                         data=bytes(8)))
    mf.append(TransparentStructureEF(parent=mf, fid=EF_FID, data=EF_DATA))
    card = Iso7816OS(mf, sam)
    card.powerUp()
    return card


def pattern(n, k):
    return bytes((i * 7 + k) & 0xFF for i in range(n))


def apdus():
    """kind -> (list of command APDUs used in turn, expected SW, data len)."""
    upd = [bytes.fromhex("00D6000080") + pattern(128, k) + b"\x00"
           for k in (1, 2)]
    return {
        "select": ([bytes.fromhex("00A4000C02%04X" % EF_FID)], 0x9000, 0),
        "read16": ([bytes.fromhex("00B0000010")], 0x9000, 16),
        "read128": ([bytes.fromhex("00B0000080")], 0x9000, 128),
        "read256": ([bytes.fromhex("00B0000000")], 0x9000, 256),
        "update128": (upd, 0x6282, 0),
        "verify": ([bytes.fromhex("0020000104") + PIN], 0x9000, 0),
        "unknown": ([bytes.fromhex("00100000")], 0x6D00, 0),
    }


def check(kind, capdu, rapdu, sw, dlen):
    if (len(rapdu) != dlen + 2 or
            ((rapdu[-2] << 8) | rapdu[-1]) != sw):
        sys.exit("vsmartcard_apdu: %s: %s -> %s (expected %d bytes and "
                 "%04X)" % (kind, capdu.hex(), rapdu.hex(), dlen, sw))


def run(card, kind, cmds, sw, dlen, seconds):
    execute = card.execute
    ncmd = len(cmds)
    # Select the EF first (the reads and updates work on the current EF).
    r = execute(bytes.fromhex("00A4000C02%04X" % EF_FID))
    check("select", b"", r, 0x9000, 0)
    n = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    now = t0
    while now < deadline:
        # 16 APDUs between clock reads: a read costs ~0.1 us, an APDU ~10 us.
        for _ in range(16):
            c = cmds[n % ncmd]
            r = execute(c)
            if (len(r) != dlen + 2 or ((r[-2] << 8) | r[-1]) != sw):
                check(kind, c, r, sw, dlen)
            n += 1
        now = time.perf_counter()
    elapsed = now - t0
    if kind.startswith("read") and r[:-2] != EF_DATA[:dlen]:
        sys.exit("vsmartcard_apdu: %s: the data read is not the file's" % kind)
    if kind == "update128":
        # The last update must be in the file.
        r = execute(bytes.fromhex("00B0000080"))
        check("read back", b"", r, 0x9000, 128)
        if r[:-2] != cmds[(n - 1) % ncmd][5:5 + 128]:
            sys.exit("vsmartcard_apdu: update128: data not written")
    return n, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0,
                    help="wall time per APDU kind (default 1.0)")
    ap.add_argument("--fill", type=int, default=0,
                    help="other EFs in the MF before ours (default 0)")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help="comma-separated subset of " + ",".join(KINDS))
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    for k in kinds:
        if k not in KINDS:
            ap.error("unknown kind %r" % k)

    setup_path()
    card = make_card(args.fill)
    table = apdus()
    for kind in kinds:
        cmds, sw, dlen = table[kind]
        n, elapsed = run(card, kind, cmds, sw, dlen, args.seconds)
        print("apdu %s %d %.6f %.1f" % (kind, n, elapsed, n / elapsed),
              flush=True)


if __name__ == "__main__":
    main()
