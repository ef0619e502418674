#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ (issue 13).

Binary seeds (pack indexes, packs, object payloads) are built here from .mlrepo-format.md
(sections 2-6); the script checks itself against the spec's worked examples 1, 3 and 4
before writing anything. Text seeds are written too, so the whole corpus is reproducible:

    python3 fuzz/make-seeds.py          # rewrites fuzz/corpus/*/ (deterministic)
"""
import hashlib
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

KINDS = {"blob": 1, "chunks": 2, "tree": 3, "commit": 4}


def object_id(kind, payload):
    """Section 2: SHA-256 of "<kind> <size>\\0" + payload."""
    return hashlib.sha256(b"%s %d\0" % (kind.encode(), len(payload)) + payload).digest()


def tree_payload(entries):
    """Section 4.1: entries sorted by name bytes: "<mode> <size> <name>\\0<id>"."""
    out = b""
    for mode, size, name, oid in sorted(entries, key=lambda e: e[2].encode()):
        out += b"%s %d %s\0" % (mode.encode(), size, name.encode()) + oid
    return out


def commit_payload(tree, parents, message, extra=()):
    """Section 4.2."""
    sig = b"Ada Lovelace <ada@example.com> 1700000000 +0000"
    out = b"tree " + tree.hex().encode() + b"\n"
    for p in parents:
        out += b"parent " + p.hex().encode() + b"\n"
    out += b"author " + sig + b"\ncommitter " + sig + b"\n"
    for k, v in extra:
        out += k.encode() + b" " + v.encode() + b"\n"
    return out + b"\n" + message.encode()


def chunks_payload(level, parts):
    """Section 3.2: u8 level, u64 total, then (id, u64 size) per part."""
    out = struct.pack("<BQ", level, sum(s for _, s in parts))
    for oid, size in parts:
        out += oid + struct.pack("<Q", size)
    return out


def pack_and_index(objects):
    """Sections 5 and 6. objects: list of (kind, payload, codec 0 raw / 1 zlib)."""
    pack = b"MLRPACK1"
    entries = []
    for kind, payload, codec in objects:
        oid = object_id(kind, payload)
        stored = zlib.compress(payload, 6) if codec == 1 else payload
        offset = len(pack)
        pack += oid + struct.pack("<BBHII", KINDS[kind], codec, 0, len(payload), len(stored)) + stored
        entries.append((oid, offset, len(payload), KINDS[kind], codec))
    entries.sort()
    idx = b"MLRIDX01" + struct.pack("<II", len(entries), 0)
    counts = [0] * 256
    for e in entries:
        counts[e[0][0]] += 1
    acc = 0
    for c in counts:
        acc += c
        idx += struct.pack("<I", acc)
    for e in entries:
        idx += e[0]
    for oid, offset, size, kind, codec in entries:
        idx += struct.pack("<QIBBH", offset, size, kind, codec, 0)
    idx += hashlib.sha256(idx).digest()
    return pack, idx


def self_check():
    """The spec's examples 1, 3 and 4."""
    hello = object_id("blob", b"hello\n")
    assert hello.hex() == "2cf8d83d9ee29543b34a87727421fdecb7e3f3a183d337639025de576db9ebb4"
    ramp = bytes.fromhex("4913bbcbcaeb3d8d8e0f02c6aa5a85778ac673d2807afde00fb869093291f49c")
    tree = tree_payload([("100644", 6, "hello.txt", hello), ("100644", 200000, "ramp.bin", ramp)])
    assert len(tree) == 106
    tid = object_id("tree", tree)
    assert tid.hex() == "090e3df10108703bf8d958c32138a588fab1c320df63a16c88c25b3e6791632f"
    cid = object_id("commit", commit_payload(tid, [], "first\n"))
    assert cid.hex() == "b7ef46f5653645a19c103631c5a1829b383a374bf328941ed288eedf0a38cfa3"
    return hello, ramp, tree, tid


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    hello, ramp, example_tree, example_tid = self_check()
    for t in os.listdir(OUT) if os.path.isdir(OUT) else []:
        if t == "model":
            continue  # .mlmodel seeds come from `mlrepo train` (see fuzz/README.md), kept as they are
        shutil.rmtree(os.path.join(OUT, t))

    # --- objects: payloads of each kind (the target tries every decoder on each).
    example_commit = commit_payload(example_tid, [], "first\n")
    write("objects", "tree-example3", example_tree)
    write("objects", "tree-folders", tree_payload([
        ("40000", 106, "data", example_tid), ("100755", 6, "run.sh", hello), ("100644", 0, "é.txt", hello)]))
    write("objects", "commit-example4", example_commit)
    write("objects", "commit-merge-meta", commit_payload(
        example_tid, [object_id("commit", example_commit), hello],
        "merge\n\nbody line\n", extra=[("meta", hello.hex()), ("record", ramp.hex())]))
    write("objects", "chunks-level0", chunks_payload(0, [(hello, 6), (ramp, 200000)]))
    write("objects", "chunks-level1", chunks_payload(1, [(ramp, 200000)]))

    # --- packindex and pack: a small store.
    a = b"a,b,y\n1,2,3\n"
    b = bytes(range(256)) * 4
    c1, c2 = b"chunk one " * 20, b"chunk two " * 30
    lst = chunks_payload(0, [(object_id("blob", c1), len(c1)), (object_id("blob", c2), len(c2))])
    tree = tree_payload([("100644", len(a), "a.csv", object_id("blob", a)),
                         ("100644", len(b), "b.bin", object_id("blob", b)),
                         ("100644", len(c1) + len(c2), "big.txt", object_id("chunks", lst))])
    tid = object_id("tree", tree)
    commit = commit_payload(tid, [], "add data\n")
    stores = {
        "blobs-raw": [("blob", b"hello\n", 0), ("blob", a, 0)],
        "blob-zlib": [("blob", b, 1)],
        "full": [("blob", a, 0), ("blob", b, 1), ("blob", c1, 0), ("blob", c2, 1),
                 ("chunks", lst, 1), ("tree", tree, 1), ("commit", commit, 0)],
        "empty": [],
    }
    for name, objs in stores.items():
        pack, idx = pack_and_index(objs)
        write("packindex", name, idx)
        write("pack", name, struct.pack("<I", len(idx)) + idx + pack)

    # --- http: whole requests (pipelined where noted).
    body = '{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3.5, -4e2]]}}'
    write("http", "get-ping", "GET /ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
    write("http", "post-length", "POST /invocations?probabilities=true HTTP/1.1\r\nHost: x\r\n"
          "Content-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    write("http", "post-chunked", "POST /invocations HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
          "Content-Type: application/json\r\n\r\n5\r\n{\"a\":\r\n2;ext=1\r\n1}\r\n0\r\nX-Trailer: t\r\n\r\n")
    write("http", "pipelined-http10", "GET /health HTTP/1.0\n\nGET http://h:1/version?x HTTP/1.1\r\n"
          "Connection: close\r\n\r\nHEAD /metrics HTTP/1.1\r\n\r\n")
    write("http", "expect-continue", "PUT /x HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc")

    # --- chunked: bodies behind a fixed chunked head.
    write("chunked", "two-chunks", "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
    write("chunked", "extensions-trailers", "a;name=value\r\n0123456789\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n")
    write("chunked", "bare-lf", "1\na\n0\n\n")
    write("chunked", "pipelined", "2\r\nhi\r\n0\r\n\r\nGET /ping HTTP/1.1\r\n\r\n")

    # --- json
    write("json", "mlflow-split", body)
    write("json", "mlflow-records", '{"dataframe_records":[{"a":1,"b":"x"},{"a":-0.5,"b":null}]}')
    write("json", "scalars", '[true,false,null,0,-0,1e308,5e-324,123456789012345678,1.5E+3,"\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/"]')
    write("json", "nested", '{"a":{"b":{"c":[[[]],{}]}},"":""}')
    write("json", "metrics", '{\n  "accuracy": 0.9375,\n  "loss": 0.1234567890123,\n  "epochs": 10\n}\n')

    # --- refname
    for i, n in enumerate(["main", "feature/x", "release-1.0", "v1.2.3", "user/topic/sub", "a.b_c+d"]):
        write("refname", "name-%d" % i, n)

    # --- ignore: rules; the last line is also the path asked about.
    write("ignore", "basic", "*.log\n!keep.log\nbuild/\n# comment\nkeep.log")
    write("ignore", "anchored", "/data/**/*.csv\ndata/raw/\n\\#notacomment\ndata/x/y.csv")
    write("ignore", "classes", "[a-c]?.txt\n[!0-9]*.bin\nfoo\\ \nb1.txt")
    write("ignore", "doublestar", "**/cache\nmodels/**\na/**/b\r\na/x/y/b")

    # --- csv
    write("csv", "numeric-label", "a,b,y\n1,2,0.5\n3,4,1.5\n-1e3,.5,2\n")
    write("csv", "class-label", "\ufeffx1, x2 ,y\r\n1.5,2,cat\r\n3,\"4\",dog\r\n5,6,cat\r\n")
    write("csv", "quoted", 'a,"b,c",y\n"1",2,"multi\nline"\n3,4,"say ""hi"""\n\n\n')
    write("csv", "no-label", "p,q\n0,1\n1,0\n")

    # --- onnx: the decoder test's fixture (written by Tests/Fixtures/onnx/make_onnx_fixtures.py)
    # and small hand-made files: a nested If body, a 2^40-element tensor claim, a 4 GiB length.
    fixture = os.path.join(os.path.dirname(OUT), "..", "Tests", "Fixtures", "onnx", "logreg.onnx")
    with open(fixture, "rb") as f:
        write("onnx", "logreg", f.read())
    # Small models of every operator family the executor runs (the target also loads and runs
    # them): linear, scalers, imputer, trees (legacy and TreeEnsemble v5), string inputs.
    fixtures = os.path.join(os.path.dirname(OUT), "..", "Tests", "Fixtures", "onnx")
    for rel in ["relu.onnx", "linreg.onnx", "echo_strings.onnx", "reference/imputer.onnx", "reference/linearsvc.onnx",
                "reference/tree5_members.onnx", "reference/scalers.onnx", "reference/dtree.onnx", "reference/logreg.onnx"]:
        path = os.path.join(fixtures, rel)
        if os.path.exists(path) and os.path.getsize(path) <= 64 << 10:
            with open(path, "rb") as f:
                write("onnx", rel.replace("/", "-")[:-5], f.read())
    def varint(n):
        out = b""
        while n >= 0x80:
            out += bytes([(n & 0x7F) | 0x80]); n >>= 7
        return out + bytes([n])
    inner = b""
    for _ in range(3):   # If nodes whose then_branch holds the next If
        attr = b"\x0a\x0bthen_branch\xa0\x01\x05" + b"\x32" + varint(len(inner)) + inner
        node = b"\x22\x02If" + b"\x2a" + varint(len(attr)) + attr
        inner = b"\x0a" + varint(len(node)) + node
    write("onnx", "nested-if", b"\x08\x08\x3a" + varint(len(inner)) + inner)
    write("onnx", "huge-dims", bytes([0x08, 0x08, 0x3A, 0x14, 0x2A, 0x12, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20,
                                      0x10, 0x01, 0x22, 0x04, 0, 0, 0, 0, 0x42, 0x01, 0x54]))
    write("onnx", "huge-length", bytes([0x08, 0x08, 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]))

    # --- merge: base, ours and theirs separated by NUL bytes
    write("merge", "clean", b"a\nb\nc\nd\n\0a\nB\nc\nd\n\0a\nb\nc\nD\n")
    write("merge", "conflict", b"x\ny\n\0x\nY\n\0x\nZ\nw")
    write("merge", "repeats", b"}\n\n}\n\n\0}\n\n\n}\n\0\n}\n\n")
    write("merge", "crlf", b"a\r\nb\r\n\0a\r\nB\r\n\0A\r\nb\r\n")

    # --- index: an .mlrepo/index (format §7) with a merged entry, and one with conflict stages
    def index_file(entries, version):
        body = b"MLRINDX1" + struct.pack("<II", version, len(entries)) + bytes(32)
        for path, mode, flags, size, oid in entries:
            p = path.encode()
            body += struct.pack("<IIQqqQQ", mode, flags, size, 1700000000000000000, 1700000000000000000, 42, 7)
            body += oid + struct.pack("<H", len(p)) + p
        return body + hashlib.sha256(body).digest()
    a, b, c = (hashlib.sha256(x).digest() for x in (b"a", b"b", b"c"))
    write("index", "merged", index_file([("data/x.csv", 0o100644, 0, 10, a), ("run.sh", 0o100755, 0, 3, b)], 1))
    write("index", "conflict", index_file([("a.txt", 0o100644, 0, 1, a), ("t.csv", 0o100644, 1 << 1, 4, a),
                                           ("t.csv", 0o100644, 2 << 1, 5, b), ("t.csv", 0o100644, 3 << 1, 6, c)], 2))
    write("index", "merge-mode", '{"base_label":"1a2b3c4","key":"id","label":"feature","style":"diff3","touched":["t.csv","dir/a.txt"]}\n')

    # --- uifilter: experiment table filters (UI/FilterExpression.swift)
    write("uifilter", "simple", "accuracy>0.9 && train.lr<0.01")
    write("uifilter", "logic", "!(a >= 1 || b != -2.5e-3) && (c == 'x' || \"d e\" <= \"y\\\"z\")")
    write("uifilter", "file-keys", "metrics.json:acc > 0.5 || 'metric acc' == 1 || params.yaml:train.opt.lr <= 1E+2")
    write("uifilter", "nested", "(" * 20 + "a>1" + ")" * 20 + " && !!!b<2")
    write("uifilter", "errors", "a>1 & b<2 || (c=1")

    # --- plotdata: plot files (UI/Plots.swift); the first byte picks csv (0), tsv (1) or json (2)
    write("plotdata", "csv", b"\x00epoch,loss,val_loss\n0,1.5,1.6\n1,0.9,1.1\n2,0.5,0.8\n")
    write("plotdata", "tsv", b"\x01actual\tpredicted\ncat\tcat\ncat\tdog\n<b>x</b>\tdog\n")
    write("plotdata", "json", b'\x02{"points": [{"x": 1, "y": 2e308}, {"x": -1e308, "y": "a"}, {"x": 3}]}')
    write("plotdata", "huge", b"\x00x,y\n-1e308,1e308\n1e308,-1e308\nnan,inf\n" + b"1,2\n" * 50)

    # --- promtext: a served model's /metrics (UI/Pages/ServingPage.swift)
    write("promtext", "serve", "# HELP mlrepo_requests_total Requests.\n# TYPE mlrepo_requests_total counter\n"
          'mlrepo_requests_total{path="/invocations",status="200"} 12\n'
          'mlrepo_request_duration_seconds_bucket{le="0.005"} 3\nmlrepo_rows_scored_total 4.5e3\n')
    write("promtext", "odd", 'a{b="c\\"d",e="\n"} NaN\nx{ 1\n{}\n y 2\nz{a="<script>"} +Inf\n')

    # --- uiquery: page queries (UI/HTML.swift)
    write("uiquery", "plain", "branch=main&branch=exp&sort=accuracy&order=desc&filter=acc%3E0.9+%26%26+lr%3C0.01&page=2")
    write("uiquery", "odd", "a=%zz&%e2%28=1&&=&c=%3Cscript%3E&d=%C3%A9+%2B")

    # --- kernelcache: compiled-kernel cache files (ComputeGPU/KernelCache.swift): magic,
    # image length (UInt64 LE), the 32-byte key, SHA-256 of the image, the image
    import hashlib
    def kc(image, key=bytes(range(32))):
        return b"MLRKC01\n" + len(image).to_bytes(8, "little") + key + hashlib.sha256(image).digest() + image
    write("kernelcache", "valid", kc(b"\x7fELF fake cubin image"))
    write("kernelcache", "badlength", kc(b"abc")[:8] + (2**63).to_bytes(8, "little") + kc(b"abc")[16:])
    write("kernelcache", "truncated", kc(b"0123456789")[:-3])
    write("kernelcache", "baddigest", kc(b"image")[:-1] + b"X")

    # --- decimal
    write("decimal", "plain", "0\n-0\n+1\n1.\n.5\n-.5e-3\n007\n123.456\n9223372036854775807\n-9223372036854775808\n")
    write("decimal", "exponents", "1e22\n1e23\n1E-22\n2.5e+308\n1e400\n4.9406564584124654e-324\n1e-400\n0e99999\n")
    write("decimal", "long", "3.14159265358979323846264338327950288\n18446744073709551616\n0000000000000000000000001\n"
          "1.00000000000000011102230246251565404236316680908203125\n3.4028235677973366e38\n1.4e-45\n")
    write("decimal", "not-numbers", "\n+\n.\ne5\n1e\n 1\n1 \n0x10\ninf\nnan\n1,5\n--1\n")

    # --- config (.mlrepo/config)
    write("config", "basic", "[core]\n\tcompression = auto\n\tfsync = false\n[remote \"origin\"]\n\turl = s3://b/p\n")
    write("config", "odd", "# c\n; c\n[chunking]\navgsize=16384\nflag\n[a.b]\nk = \"quoted value\"\r\nbad line here\n")

    # --- npy: NumPy .npy arrays (format 1.0 header, little-endian)
    def npy(descr, shape, payload, version=1):
        header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
        pad = 64 - (10 + len(header) + 1) % 64
        header += " " * pad + "\n"
        return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<H", len(header)) + header.encode() + payload
    write("npy", "f4-2x3", npy("<f4", "(2, 3)", struct.pack("<6f", 1, 2, 3, 4, 5, 6)))
    write("npy", "f8-1d", npy("<f8", "(3,)", struct.pack("<3d", 0.5, -1, 2)))
    write("npy", "i8-3x1", npy("<i8", "(3, 1)", struct.pack("<3q", 1, -2, 3)))
    write("npy", "bool-2x2", npy("|b1", "(2, 2)", bytes([1, 0, 0, 1])))


if __name__ == "__main__":
    main()
