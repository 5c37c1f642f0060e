#!/usr/bin/env bash
# setup.sh: installs the Debian packages cardfab builds, tests and runs with.
# Idempotent: installs only what is missing, and touches nothing if all is
# present. Runs apt-get as root, or through sudo when that exists.
set -euo pipefail

# One package a line, with why. Installed with --no-install-recommends.
packages=(
	build-essential        # gcc, make, libc headers, binutils (nm, ar)
	cmake                  # the build
	clang                  # libFuzzer build (CARDFAB_FUZZ needs clang)
	libclang-rt-14-dev     # clang's sanitizer and libFuzzer runtimes (only recommended by clang)
	pkg-config             # finds cmocka
	libcmocka-dev          # unit tests
	libssl-dev             # OpenSSL libcrypto: AES, 3DES, CMAC, RNG of the host HAL
	libyaml-dev            # card profiles (src/profile): YAML with line/column marks
	python3                # helper and integration scripts
	python3-virtualsmartcard # vpcd / vicc: serve a virtual chip to pcscd
	python3-pycryptodome   # independent crypto for checking SCP03 in tests
	pcsc-tools             # pcsc_scan, scriptor: PC/SC clients (pulls GTK with recommends)
	libpcsclite-dev        # pcsc-lite: the reader layer's PC/SC backend (src/reader)
	pcscd                  # the PC/SC daemon the integration test and bench start
	vsmartcard-vpcd        # vpcd: pcscd's driver for virtual cards ('cardfab vicc')
	vsmartcard-vpicc       # vsmartcard's own vicc: the baseline of bench/pcsc_roundtrip
	opensc                 # opensc-tool, opensc-explorer: integration test clients
	python3-pyscard        # pyscard: integration test client (/usr/bin/python3)
	iproute2               # ip: loopback up in the integration test's network namespace
	libsqlite3-dev         # the MES's embedded database (src/mes), SQLite 3.35+
	libpq-dev              # the MES's PostgreSQL backend (libpq 14+: pipeline mode)
	postgresql             # initdb, pg_ctl: the throwaway server of test_mes_pg and bench/mes
	softhsm2               # SoftHSM2: the default PKCS#11 token of the issuer's master keys (src/perso)
	libp11-kit-dev         # pkcs11.h (p11-kit's): the PKCS#11 API src/perso loads modules through
	libcsv-dev             # libcsv: the cardholder files (CSV) data preparation reads (src/perso/prep.c)
	openssl                # openssl enc: independent KCVs and unwrapping in test_token_cli
	xxd                    # hex to binary in the token tests
	libxml2-utils          # xmllint: the card faces (SVG) checked well-formed in test_face
)

missing=()
for pkg in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all ${#packages[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	as_root=()
elif command -v sudo >/dev/null 2>&1; then
	as_root=(sudo)
else
	echo "setup: missing ${missing[*]}, and not root and no sudo to install them" >&2
	exit 1
fi

# apt-get's own output is shown only if it fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" apt-get update -q &&
	"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
	>"$log" 2>&1; then
	cat "$log" >&2
	echo "setup: FAILED to install ${missing[*]}" >&2
	exit 1
fi
echo "setup: were missing, now installed: ${missing[*]}"
