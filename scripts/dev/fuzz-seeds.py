#!/usr/bin/env python3
"""Writes small valid inputs for each fuzz target (scripts/dev/fuzz.sh): the fuzzer mutates from real
shapes of each format instead of discovering magic numbers. Usage: fuzz-seeds.py OUT_DIR"""
import gzip, json, os, shutil, struct, sys, zlib

out = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)

def images(n):
    return struct.pack(">IIII", 0x803, n, 28, 28) + bytes((i * 7) % 256 for i in range(784 * n))

def labels(n):
    return struct.pack(">II", 0x801, n) + bytes(i % 10 for i in range(n))

# The harness's first byte picks the file name: 0 train images .gz, 1 train labels .gz,
# 2 test images, 3 test labels, 4 train csv, 5 test csv, 6 data.bin, 7 model.safetensors.
put("idx", "images-gz", b"\0" + gzip.compress(images(2)))
put("idx", "labels-gz", b"\1" + gzip.compress(labels(3)))
put("idx", "images-raw", b"\2" + images(1))
put("idx", "labels-raw", b"\3" + labels(4))
def deflate_member(data):
    # The harness writes the gzip header; the input is the deflate stream and the trailer.
    return zlib.compress(data)[2:-4] + struct.pack("<II", zlib.crc32(data), len(data))

put("gzip", "images", deflate_member(images(1)))
put("gzip", "labels", deflate_member(labels(5)))

def csv(n, header=True):
    rows = ["label," + ",".join(f"pixel{i + 1}" for i in range(784))] if header else []
    rows += [",".join([str(r % 10)] + [str((r + i) % 256) for i in range(784)]) for r in range(n)]
    return ("\n".join(rows) + "\n").encode()

put("csv", "with-header", b"\4" + csv(2))
put("csv", "no-header", b"\5" + csv(1, header=False))
put("bundle", "idx-four", b"||".join([b"\0" + gzip.compress(images(2)), b"\1" + gzip.compress(labels(2)),
                                      b"\2" + images(1), b"\3" + labels(1)]))
put("bundle", "csv-two", b"\4" + csv(2) + b"||\5" + csv(1))

def bitmap(w, h, rgba):
    px = bytearray()
    for y in range(h):
        for x in range(w):
            ink = 255 if (x - w // 2) ** 2 + (y - h // 2) ** 2 < (min(w, h) // 3) ** 2 else 0
            px += bytes([ink, ink, ink, 255]) if rgba else bytes([ink])
    return bytes([w, h, int(rgba)]) + bytes(px)

put("picture", "gray-28", bitmap(28, 28, False))
put("picture", "rgba-40x30", bitmap(40, 30, True))
put("picture", "gray-9x60", bitmap(9, 60, False))

def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        raw = struct.pack(f"<{n}f", *[(i % 13) / 13 for i in range(n)])
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata:
        header["__metadata__"] = metadata
    head = json.dumps(header).encode()
    return struct.pack("<Q", len(head)) + head + data

tiny = [("layers.0.weight", [4, 3]), ("layers.0.bias", [3]), ("layers.1.weight", [3, 2]), ("layers.1.bias", [2])]
put("safetensors", "ours", b"\7" + safetensors(tiny, {"format": "fashion-mlp"}))
put("safetensors", "pytorch-names", b"\7" + safetensors([("fc1.weight", [3, 4]), ("fc1.bias", [3])]))
put("safetensors", "sequential", b"\6" + safetensors([("0.weight", [2, 4]), ("3.bias", [2])]))
for name in ["dtypes.pt", "noncontiguous.pt", "whole-model.pt"]:
    src = os.path.join(root, "tests", "fixtures", "pytorch", name)
    if os.path.exists(src):
        put("pytorch", name, open(src, "rb").read())
        put("safetensors", name, b"\6" + open(src, "rb").read())

# The structure-aware targets read their input through `arbitrary` (tests/fuzz/shapes.rs): any
# bytes are a file of the right shape, so seeded random bytes of a few lengths start them off.
import random
for target in ["pickle", "zip", "legacy", "checkpoint", "rows", "dims", "png"]:
    rng = random.Random(target)
    for n in [16, 64, 256, 1024, 4096]:
        put(target, f"random-{n}", bytes(rng.randrange(256) for _ in range(n)))
