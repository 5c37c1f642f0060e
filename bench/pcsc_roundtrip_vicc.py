#!/usr/bin/python3
"""pcsc_roundtrip_vicc.py - vsmartcard's own Python virtual card (Debian
python3-virtualsmartcard 3.3, what its `vicc -t iso7816` runs) as the
baseline card of bench/pcsc_roundtrip.sh.

It builds the card exactly as vicc does (VirtualICC with card type
"iso7816": CardGenerator's empty MF, Iso7816OS) and adds to its MF one
1,024-byte transparent EF, FID 0101, so that the bench's APDUs (SELECT EF
0101 with P2 0C, READ BINARY 16 and 128, GET CHALLENGE 8) all answer 9000
with data. vicc itself cannot be given a file system (its -f option is not
used by Debian's 3.3), hence this launcher; the transport loop and the card
OS are vsmartcard's, unchanged.

  --port P     vpcd's port (default 35963); the card connects to 127.0.0.1
  --no-stall   set TCP_NODELAY and re-arm TCP_QUICKACK before every read on
               the card's socket (monkeypatched here): without them every
               APDU waits ~44 ms for Debian's vpcd 3.3, which writes the
               length and the APDU separately

Pitfalls handled: the package installs under
/usr/lib/python3/site-packages/virtualsmartcard (not on sys.path), and
imports `Crypto`, while python3-pycryptodome provides `Cryptodome`: a
temporary directory with a symlink Crypto -> Cryptodome goes on sys.path.
SELECT with P2 00 or 04 crashes its FCP encoder: the bench uses P2 0C.
Run it with /usr/bin/python3 (the interpreter the package is built for).
"""

import argparse
import atexit
import os
import shutil
import socket
import sys
import tempfile

VSC = "/usr/lib/python3/site-packages/virtualsmartcard"
CRYPTODOME = "/usr/lib/python3/dist-packages/Cryptodome"


def setup_path():
    sys.path.insert(0, VSC)
    try:
        import Crypto  # noqa: F401
    except ImportError:
        tmp = tempfile.mkdtemp(prefix="vsc-crypto-")
        atexit.register(shutil.rmtree, tmp, True)
        os.symlink(CRYPTODOME, os.path.join(tmp, "Crypto"))
        sys.path.insert(0, tmp)


def no_stall():
    """Every socket the card makes: TCP_NODELAY, and TCP_QUICKACK before
    each recv (the kernel clears it by itself)."""
    base = socket.socket

    class QuickSocket(base):
        def connect(self, *a, **k):
            r = super().connect(*a, **k)
            self.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return r

        def recv(self, *a, **k):
            self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            return super().recv(*a, **k)

    socket.socket = QuickSocket


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=35963)
    ap.add_argument("--no-stall", action="store_true")
    args = ap.parse_args()
    setup_path()
    if args.no_stall:
        no_stall()
    import logging
    from virtualsmartcard.VirtualSmartcard import VirtualICC
    from virtualsmartcard.SmartcardFilesystem import TransparentStructureEF

    vicc = VirtualICC(None, "iso7816", "127.0.0.1", args.port,
                      logginglevel=logging.CRITICAL)
    mf = vicc.os.mf
    mf.append(TransparentStructureEF(parent=mf, fid=0x0101,
                                     data=bytes(range(256)) * 4))
    try:
        vicc.run()
    except (KeyboardInterrupt, SystemExit):
        pass


main()
