#!/usr/bin/env python3
"""make_corpus.py - (re)write the seed corpus of tests/fuzz/fuzz_apdu.c.

Writes tests/fuzz/corpus/fuzz_apdu/<name> for every seed below (and removes
the files of this directory it no longer makes). The input format is the
one fuzz_apdu.c's header describes:

  byte 0   mode: b3-b1 snapshot, b4 T=0, b7-b5 SCP03 level, b8 power cut
  [2 bytes if b8: cut at NVM write byte+1, after `torn` bytes of it]
  then     APDUs, each a 2-byte big-endian length and the APDU

Snapshots: 0 MANUFACTURING, 1 TRANSPORT, 2 INITIALIZATION,
3 PERSONALIZATION, 4 OPERATIONAL, 5 TERMINATED. The chip they hold (files
0101, 0102, DF 1000 with 1001-1004, PIN 1 "1234", PUK 2 "12345678", keys
4 AES, 5 3DES, SCP03 key set 30) is built in fuzz_apdu.c.

Usage: python3 tests/fuzz/make_corpus.py [OUTDIR]
Standard library only; the output is deterministic.
"""

import os
import sys

MANUF, TRANSPORT, INIT, PERSO, OPER, TERM = range(6)
SCP = {None: 0, "mac": 1, "mac+dec": 2, "mac+rmac": 3, "mac+dec+rmac": 4,
       "all": 5}

PIN = b"1234".hex()
PUK = b"12345678".hex()
TCODE = b"TRANSP01".hex()
AID = "A0000009990102"


def apdu(hexstr):
    """'00A4000C 3F00' -> bytes, Lc computed for the part after the space;
    a trailing '| LE' adds an Le byte (or bytes) as given."""
    le = ""
    if "|" in hexstr:
        hexstr, le = hexstr.split("|")
    parts = hexstr.split()
    head = bytes.fromhex(parts[0])
    if len(parts) > 1:
        assert len(head) == 4, "header of %r is not 4 bytes" % hexstr
        data = bytes.fromhex("".join(parts[1:]))
        head += bytes([len(data)]) + data
    return head + bytes.fromhex(le.strip())


def seed(state, apdus, t0=False, scp=None, cut=None):
    mode = state | (0x08 if t0 else 0) | (SCP[scp] << 4)
    out = bytearray()
    if cut is not None:
        mode |= 0x80
        out += bytes([mode, cut[0] - 1, cut[1]])
    else:
        out.append(mode)
    for a in apdus:
        b = a if isinstance(a, bytes) else apdu(a)
        out += len(b).to_bytes(2, "big") + b
    return bytes(out)


SEL_MF = "00A4000C 3F00"
SEL_DF = "00A4000C 1000"


def sel(fid):
    return "00A4000C %04X" % fid


def create(fcp):
    fcp = bytes.fromhex(fcp.replace(" ", ""))
    return b"\x00\xE0\x00\x00" + bytes([len(fcp) + 2, 0x62, len(fcp)]) + fcp


SEEDS = {
    # SELECT variants
    "select_mf": seed(OPER, [SEL_MF]),
    "select_fid_fci": seed(OPER, ["00A40000 1000|00"]),
    "select_fcp_path": seed(OPER, ["00A40804 10001001|00"]),
    "select_fmd": seed(OPER, ["00A40008 0101|00"]),
    "select_child_df_ef": seed(OPER, ["00A4010C 1000", "00A4020C 1002",
                                      "00A4030C"]),
    "select_path_current": seed(OPER, [SEL_DF, "00A4090C 1004"]),
    "select_aid": seed(OPER, ["00A40400 " + AID + "|00"]),
    "select_aid_partial_next": seed(OPER, ["00A40400 A000000999|00",
                                           "00A40402 A000000999|00"]),
    "select_isd": seed(INIT, ["00A40400 A000000151000000|00"]),
    "select_not_found": seed(OPER, ["00A4000C 7777", "00A40800 3F00"]),
    # READ / UPDATE / ERASE BINARY
    "read_binary_sfi": seed(OPER, ["00B0810000", "00B0811010"]),
    "read_binary_current": seed(OPER, [sel(0x0101), "00B0000010",
                                       "00B00000F0", "00B00100 00"]),
    "read_binary_eof": seed(OPER, [sel(0x0101), "00B000F020",
                                   "00B0010000"]),
    "update_binary": seed(OPER, [sel(0x0101), "00D60000 DEADBEEF",
                                 "00B0000004", "00D600FE 0102030405"]),
    "update_binary_pin": seed(OPER, [sel(0x0102), "00D60000 AABB",
                                     "00200001 " + PIN, "00B0000020"]),
    "erase_binary": seed(OPER, [sel(0x0101), "000E0010",
                                "000E0000 0020", "00B0000040"]),
    # records
    "read_records": seed(OPER, [SEL_DF, sel(0x1002), "00B2010400",
                                "00B2000000", "00B2000200", "00B2010500",
                                "00B2020600"]),
    "read_record_sfi": seed(OPER, [SEL_DF, "00B2011C00", "00B2012400",
                                   "00B2012C00"]),
    "update_record": seed(INIT, [SEL_DF, sel(0x1002),
                                 "00DC0104 " + "55" * 16, "00B2010400"]),
    "append_record_pin": seed(OPER, [SEL_DF, sel(0x1003),
                                     "00200001 " + PIN,
                                     "00E20000 0102030405",
                                     "00B2030400"]),
    "cyclic_append": seed(OPER, [SEL_DF, sel(0x1004),
                                 "00E20000 0404040404040404",
                                 "00B2010400", "00B2040400"]),
    "search_record": seed(OPER, [SEL_DF, sel(0x1003), "00A20104 4445",
                                 "00A20405 41"]),
    # PINs and keys
    "verify_ok": seed(OPER, ["00200001 " + PIN, "00200001"]),
    "verify_wrong_block": seed(OPER, ["00200001 30303030"] * 4 +
                               ["00200001 " + PIN, "00200001"]),
    "verify_wrong_length": seed(OPER, ["00200001 313233",
                                       "00200081 " + PIN]),
    "change_pin": seed(OPER, ["00240001 " + PIN + "35363738",
                              "00200001 35363738",
                              "00240101 31313131"]),
    "reset_retry_counter": seed(OPER, ["00200001 30303030",
                                       "002C0001 " + PUK + PIN,
                                       "002C0101 " + PUK]),
    "get_challenge_ext_auth": seed(OPER, ["0084000010", "00820004 " +
                                          "00" * 16, "0084000008",
                                          "00820005 " + "00" * 8]),
    "internal_authenticate": seed(OPER, ["00880004 0102030405060708|00",
                                         "00880005 01020304|00"]),
    "get_challenge_256": seed(OPER, ["0084000000"]),
    # data objects
    "get_data": seed(OPER, ["00CA9F7F00", "00CADF3000", "80CA9F7F00",
                            "00CA123400"]),
    "put_data_cplc_transport": seed(TRANSPORT, ["00DADF41 12340101",
                                                "00DADF42 56780202",
                                                "00DADF41 12340101",
                                                "00CA9F7F00"]),
    "put_data_objects_init": seed(INIT, [
        "00DADF01 800103 810105 820106 8306313131313131",
        "00DADF02 800106 810102 820188 830101 8410" + "11" * 16,
        "00DADF43 1234012300000001", "00CADF3000"]),
    # life cycle
    "transport_verify_ok": seed(TRANSPORT, ["0020001F " + TCODE,
                                            "00CADF3000"]),
    "transport_verify_wrong": seed(TRANSPORT, ["0020001F " + "00" * 8] * 4 +
                                   ["00CADF3000"]),
    "transport_select_getdata": seed(TRANSPORT, [SEL_MF, "00CA9F7F00",
                                                 sel(0x0101)]),
    "manufacturing_tests": seed(MANUF, ["8030000000", "8032000010",
                                        "8032010000", "00CADF3000"]),
    "manufacturing_fab_close": seed(MANUF, [
        "80340000 8008CF00000000000099 81083132333435363738 820105"
        " 83020222 84020007", "8030000000", "0020001F 3132333435363738"]),
    "test_commands_closed": seed(OPER, ["8030000000", "8032000010",
                                        "80340000 800101"]),
    "set_status_fuse": seed(INIT, ["80F08007", "00CADF3000"]),
    "set_status_lock": seed(OPER, ["80F0807F", "80F0800F", "80F080FF"]),
    "activate_deactivate": seed(OPER, ["00200001 " + PIN,
                                       "00040000 0102", "00A4000C 0102",
                                       "00440000 0102", "00B0000001"]),
    "terminate_ef_df": seed(INIT, ["00E80000 0101", sel(0x0101),
                                   "00E60000 1000", SEL_DF]),
    "terminate_card": seed(OPER, ["00FE0000", "00CADF3000", SEL_MF]),
    "terminated_state": seed(TERM, ["00CADF3000", "00CA9F7F00", SEL_MF,
                                    "00B0810000", "00200001 " + PIN]),
    # CREATE / DELETE FILE
    "create_files_init": seed(INIT, [
        create("820101 83022001 80020080"),
        SEL_MF,
        create("820138 83022000 8405A000000777"),
        create("82050221000804 83022002"),
        create("82050421001003 83022003 880138"),
        create("82050621000402 83022004"),
        "00E20000 01020304"]),
    "create_file_op_pin": seed(OPER, [SEL_DF, "00200001 " + PIN,
                                      create("820101 83021005 80020010"),
                                      "00D60000 0102"]),
    "create_file_bad": seed(INIT, [create("820101 83020101 80020010"),
                                   create("820101 83023F00 80020010"),
                                   create("820101 83029999 8002FFFF"),
                                   create("8201FF"),
                                   "00E00000 6205820101"]),
    "delete_file": seed(INIT, [SEL_DF, sel(0x1004), "00E40000", SEL_MF,
                               "00E40000 1000", SEL_DF]),
    # lengths and classes
    "extended_read": seed(OPER, [sel(0x0101), bytes.fromhex("00B00000000100"),
                                 bytes.fromhex("00B00000000000")]),
    "extended_update": seed(INIT, [sel(0x0101), bytes.fromhex(
        "00D60000000100") + bytes(range(256))]),
    "extended_case4_select": seed(OPER, [bytes.fromhex(
        "00A40400000007" + AID + "0000")]),
    "extended_too_long": seed(INIT, [sel(0x0101), bytes.fromhex(
        "00D60000000401") + b"\xAA" * 1025]),
    "malformed_lengths": seed(OPER, [bytes.fromhex("00A4000C053F00"),
                                     bytes.fromhex("00B0"), b"",
                                     bytes.fromhex("00B0000000000100"),
                                     bytes.fromhex("00A4000C00")]),
    "classes": seed(OPER, ["01A4000C 3F00", "0CA4000C 3F00",
                           "10A4000C 3F00", "FFA4000C 3F00",
                           "84A4000C 3F00", "00100000"]),
    # GlobalPlatform
    "initialize_update": seed(PERSO, ["80503000 0102030405060708|00",
                                      "84820100 " + "00" * 16]),
    "initialize_update_op": seed(OPER, ["80500000 0102030405060708|00",
                                        "80500100 0102030405060708|00"]),
    "get_status": seed(OPER, ["80F28000 4F00|00", "80F28002 4F00|00"]),
    # T=0: 61xx and GET RESPONSE
    "t0_get_response": seed(OPER, ["00A40000 3F00|00", "00C0000000",
                                   "00C0000010", "00CA9F7F00",
                                   "00C000002D"], t0=True),
    # through an SCP03 session the harness opens and wraps
    "scp_perso_stamp": seed(PERSO, ["00DADF44 1234012300000002",
                                    "00CA9F7F00"], scp="mac"),
    "scp_perso_writes": seed(PERSO, [SEL_DF, sel(0x1001),
                                     "00D60000 CAFE", "00B0000002",
                                     "80F0800F"], scp="mac+rmac"),
    "scp_perso_put_pin": seed(PERSO, [
        "00DADF01 800101 810103 820104 830439393939",
        "00200001 39393939"], scp="mac+dec"),
    "scp_op_update_record": seed(OPER, [SEL_DF, sel(0x1002),
                                        "00DC0104 " + "77" * 16,
                                        "00B2010400"], scp="mac"),
    "scp_op_all": seed(OPER, ["00CADF3000", "0084000008",
                              "80F0807F", "80F0800F"], scp="all"),
    "scp_init_dec_rmac": seed(INIT, ["00DADF02 800107 810101 820188"
                                     " 830101 8410" + "22" * 16],
                              scp="mac+dec+rmac"),
    # power cuts: at write N after `torn` bytes of it
    "cut_update_binary": seed(OPER, [sel(0x0101), "00D60000 " + "99" * 64,
                                     "00B0000040"], cut=(2, 5)),
    "cut_verify": seed(OPER, ["00200001 " + PIN, "00200001"],
                       cut=(1, 0)),
    "cut_create_file": seed(INIT, [create("820101 83022001 80020080"),
                                   sel(0x2001)], cut=(3, 16)),
    "cut_append_cyclic": seed(INIT, [SEL_DF, sel(0x1004),
                                     "00E20000 0909090909090909"],
                              cut=(4, 200)),
    "cut_transport": seed(TRANSPORT, ["0020001F " + TCODE], cut=(1, 1)),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "fuzz_apdu")
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old not in SEEDS:
            os.remove(os.path.join(out, old))
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print("make_corpus: %d seeds in %s" % (len(SEEDS), out))


if __name__ == "__main__":
    main()
