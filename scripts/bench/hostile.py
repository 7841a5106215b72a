#!/usr/bin/env python3
"""Hostile files against the CLI's readers: each file is built here (small files made to make a
reader do too much, and a few merely large ones), given to the `fashion` command that reads it,
and its exit status, wall time and peak memory printed as one JSON line. A file is handled well
when it is refused with a message (exit 1, no panic) within 2 s and 256 MB.

    python3 scripts/bench/hostile.py [--fashion PATH] [--ready models/ready.safetensors] [--keep DIR] [--check]
    python3 scripts/bench/hostile.py --write DIR     # only the files (the browser test gives them to the page)

`--fashion` defaults to the release build in $CARGO_TARGET_DIR (cargo build --release first).
`--check` (scripts/test.sh) exits 1 when any file is not refused with a message (a panic, a
crash, a timeout or acceptance); its seconds and megabytes are printed, not asserted.
"""
import argparse
import json
import os
import pathlib
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Pickle opcodes (protocol 2), the few these files use.
PROTO, STOP, MARK, TUPLE, NONE, REDUCE, POP = b"\x80\x02", b".", b"(", b"t", b"N", b"R", b"0"
BINPUT, BINGET, LONG_BINPUT, LONG_BINGET = b"q", b"h", b"r", b"j"
EMPTY_DICT, DICT, SETITEMS, SETITEM, BINPERSID = b"}", b"d", b"u", b"s", b"Q"
EMPTY_LIST, APPENDS, EMPTY_TUPLE, STACK_GLOBAL, BUILD = b"]", b"e", b")", b"\x93", b"b"


def binunicode(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def glob(module, name):
    return b"c" + f"{module}\n{name}\n".encode()


def put(i):
    return LONG_BINPUT + struct.pack("<I", i)


def get(i):
    return LONG_BINGET + struct.pack("<I", i)


def torch_zip(pickle, extra=()):
    """A torch.save-style zip: archive/data.pkl and any (name, bytes) given."""
    out = tempfile.SpooledTemporaryFile()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle)
        for name, data in extra:
            z.writestr(name, data)
    out.seek(0)
    return out.read()


def copies():
    """A 60,000-item tuple in the memo, passed to 200,000 calls: copied on every call."""
    p = PROTO + glob("m", "f") + put(1) + POP + MARK + NONE * 60_000 + TUPLE + put(2) + POP
    p += (get(1) + get(2) + REDUCE + POP) * 200_000
    return torch_zip(p + NONE + STOP)


def views():
    """One 16-dimension view of one storage rebuilt a million times."""
    storage = MARK + binunicode("storage") + glob("torch", "FloatStorage") + binunicode("0") + binunicode("cpu") + b"K\x01" + TUPLE + BINPERSID
    dims = MARK + b"K\x01" * 16 + TUPLE
    args = MARK + storage + b"K\x00" + dims + dims + b"\x89" + glob("collections", "OrderedDict") + MARK + TUPLE + REDUCE + TUPLE
    p = PROTO + glob("torch._utils", "_rebuild_tensor_v2") + put(1) + POP + args + put(2) + POP
    p += (get(1) + get(2) + REDUCE + POP) * 1_000_000
    return torch_zip(p + EMPTY_DICT + STOP, [("archive/data/0", b"\0" * 4)])


def names():
    """32 nested dicts, each holding its child twice under a 50,000-character key: 2^32 paths,
    each name 1.6 MB long."""
    key = "k" * 50_000
    p = PROTO + EMPTY_DICT + put(0)
    for level in range(1, 33):
        p += EMPTY_DICT + put(level) + MARK + binunicode(key + "a") + get(level - 1) + binunicode(key + "b") + get(level - 1) + SETITEMS
    return torch_zip(p + STOP)


def revisit():
    """A 50,000-entry dict of None keys (skipped by a walk) reached through 20,000 names."""
    p = PROTO + MARK + NONE * 100_000 + DICT + put(1) + POP + EMPTY_DICT + MARK
    for i in range(20_000):
        p += binunicode(f"k{i}") + get(1)
    return torch_zip(p + SETITEMS + STOP)


def zip_records():
    """A zip whose 2,000 central records all point at one deflated 16 MB entry."""
    data = b"\0" * (16 << 20)
    packed = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = packed.compress(data) + packed.flush()
    crc = zlib.crc32(data)
    name = b"archive/data.pkl"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), len(data), len(name), 0) + name + body
    central = b""
    for i in range(2_000):
        n = name if i == 0 else f"archive/data/{i}".encode()
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(body), len(data), len(n), 0, 0, 0, 0, 0, 0) + n
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2_000, 2_000, len(central), len(local), 0)
    return local + central + end


def hashed_keys():
    """A 1 MB key in the memo, set into one dict 300,000 times: each SETITEM hashes it whole."""
    p = PROTO + binunicode("k" * (1 << 20)) + put(1) + POP + EMPTY_DICT + (get(1) + NONE + SETITEM) * 300_000
    return torch_zip(p + STOP)


def class_names():
    """A 4 MB name in the memo given to STACK_GLOBAL 200,000 times: each copies it."""
    p = PROTO + binunicode("m" * (4 << 20)) + put(1) + POP + (get(1) + get(1) + STACK_GLOBAL + POP) * 200_000
    return torch_zip(p + NONE + STOP)


def buffer_set():
    """A pickled module whose non-persistent buffer set lists one 1 MB name 200,000 times,
    reached through 1,000 names: building the set hashes every item at every visit."""
    p = PROTO + binunicode("b" * (1 << 20)) + put(1) + POP + EMPTY_LIST + MARK + get(1) * 200_000 + APPENDS + put(2) + POP
    p += glob("torch.nn.modules.linear", "Linear") + EMPTY_TUPLE + REDUCE
    p += EMPTY_DICT + binunicode("_non_persistent_buffers_set") + get(2) + SETITEM + BUILD + put(3) + POP
    p += EMPTY_DICT + MARK + b"".join(binunicode(f"m{i}") + get(3) for i in range(1_000)) + SETITEMS
    return torch_zip(p + STOP)


def legacy_keys():
    """A legacy (before PyTorch 1.6) torch.save stream with one tensor on a storage named by a
    1 MB key, and a list of storage keys naming that key 300,000 times, each with an empty
    storage after it: every entry would hash the key twice."""
    magic = PROTO + b"\x8a\x0a" + bytes([0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]) + STOP
    version = PROTO + b"M" + struct.pack("<H", 1001) + STOP
    info = PROTO + EMPTY_DICT + STOP
    key = "k" * (1 << 20)
    storage = MARK + binunicode("storage") + glob("torch", "FloatStorage") + binunicode(key) + binunicode("cpu") + b"K\x01" + NONE + TUPLE + BINPERSID
    tensor = glob("torch._utils", "_rebuild_tensor_v2") + MARK + storage + b"K\x00" + MARK + b"K\x01" + TUPLE + MARK + b"K\x01" + TUPLE + b"\x89" + glob("collections", "OrderedDict") + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE
    obj = PROTO + EMPTY_DICT + binunicode("w") + tensor + SETITEM + STOP
    keys = PROTO + binunicode(key) + put(1) + EMPTY_LIST + MARK + get(1) * 300_000 + APPENDS + STOP
    return magic + version + info + obj + keys + struct.pack("<Q", 0) * 300_000


def empty_tensors():
    """A safetensors file naming 700,000 empty tensors: a 40 MB header to parse."""
    header = {f"x{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(700_000)}
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text


def rows():
    """A Kaggle-layout CSV of 60,001 valid rows: one more than the dataset holds."""
    header = ("label," + ",".join(f"pixel{i}" for i in range(1, 785)) + "\n").encode()
    return header + (b"0" + b",0" * 784 + b"\n") * 60_001


def strokes():
    """A drawing set (the page's export format) whose one drawing has 21 million empty strokes."""
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    head = json.dumps({"format": "fashion-mlp drawings", "version": 1, "classes": classes}, separators=(",", ":"))[:-1]
    drawing = '{"label":0,"pixels":"' + "00" * 784 + '","strokes":[' + "[]," * 21_000_000 + '[]]}'
    return (head + ',"drawings":[' + drawing + "]}").encode()


def drawing_png():
    """A PNG header announcing a 3000 x 2000 drawing (read with a brush width, kept at its size)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 3_000, 2_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


def commas():
    """One CSV row of 40 million commas."""
    return b"," * 40_000_000 + b"\n"


def huge_png():
    """A PNG header announcing 16384 x 16384 RGB pixels (768 MB decoded)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", 16_384, 16_384, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1024)) + chunk(b"IEND", b"")


# The files that need no CLI to make, by name.
STANDALONE = [
    ("copies.pt", copies),
    ("views.pt", views),
    ("names.pt", names),
    ("revisit.pt", revisit),
    ("zip-records.pt", zip_records),
    ("hashed-keys.pt", hashed_keys),
    ("class-names.pt", class_names),
    ("buffer-set.pt", buffer_set),
    ("legacy-keys.pt", legacy_keys),
    ("empty-tensors.safetensors", empty_tensors),
    ("commas.csv", commas),
    ("rows.csv", rows),
    ("strokes.json", strokes),
    ("huge.png", huge_png),
    ("drawing.png", drawing_png),
]


def transposed_checkpoint(fashion, work):
    """A real one-epoch checkpoint whose train.layers.0.weight says [256, 784] (same length)."""
    ckpt = work / "real.ckpt"
    subprocess.run([fashion, "train", "--train-limit", "500", "--test-limit", "100", "--epochs", "1", "--checkpoint", str(ckpt)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    raw = ckpt.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    header["train.layers.0.weight"]["shape"] = [256, 784]
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (n - len(text))  # the same length: the data offsets stay
    return raw[:8] + text + raw[8 + n:]


def run(cmd):
    """Exit status, wall seconds, the child's peak memory in MB, and the last line it printed."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        return {"exit": "timeout (60 s)", "seconds": 60.0, "message": ""}
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    lines = [l for l in err.decode(errors="replace").splitlines() if l.strip()]
    return {"exit": proc.returncode, "seconds": round(seconds, 2), "peak_mb_so_far": round(peak), "message": (lines[-1] if lines else "")[:200]}


def main():
    parser = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", str(pathlib.Path.home() / ".cache/fashion-mlp/target"))
    parser.add_argument("--fashion", default=f"{target}/release/fashion")
    parser.add_argument("--ready", default=str(ROOT / "models/ready.safetensors"))
    parser.add_argument("--keep", help="write the files here and keep them")
    parser.add_argument("--write", help="only write the files that need no CLI into this folder")
    parser.add_argument("--check", action="store_true", help="exit 1 unless every file is refused with a message")
    args = parser.parse_args()
    if args.write:
        out = pathlib.Path(args.write)
        out.mkdir(parents=True, exist_ok=True)
        for name, make in STANDALONE:
            (out / name).write_bytes(make())
        return
    work = pathlib.Path(args.keep or tempfile.mkdtemp(prefix="hostile-"))
    work.mkdir(parents=True, exist_ok=True)
    f = args.fashion
    model = lambda p: [f, "eval", "--model", p, "--test-limit", "10"]
    command = {
        "commas.csv": lambda p: [f, "train", "--epochs", "1", "--train-csv", p, "--test-csv", p],
        "rows.csv": lambda p: [f, "eval", "--model", args.ready, "--test-csv", p],
        "strokes.json": lambda p: [f, "finetune", "--model", args.ready, "--drawings", p, "--save", str(work / "taught.safetensors")],
        "huge.png": lambda p: [f, "predict", "--model", args.ready, p],
        "drawing.png": lambda p: [f, "predict", "--model", args.ready, "--brush", "3", p],
    }
    cases = [(name, make, command.get(name, model)) for name, make in STANDALONE]
    cases.append(("transposed.ckpt", lambda: transposed_checkpoint(f, work), lambda p: [f, "train", "--resume", p, "--epochs", "2"]))
    failed = []
    for name, make, command in cases:
        path = work / name
        path.write_bytes(make())
        # Each case in a process of its own, so that its peak is its own.
        probe = subprocess.run(
            ["python3", "-c", f"import json,sys; sys.path.insert(0, {str(pathlib.Path(__file__).parent)!r}); "
             f"import hostile; print(json.dumps(hostile.run({command(str(path))!r})))"],
            capture_output=True, text=True)
        result = json.loads(probe.stdout) if probe.stdout.strip() else {"error": probe.stderr[-300:]}
        result = {"file": name, "bytes": path.stat().st_size, **result}
        if "peak_mb_so_far" in result:
            result["peak_mb"] = result.pop("peak_mb_so_far")
        result["handled"] = result.get("exit") == 1 and "panicked" not in result.get("message", "") \
            and result.get("seconds", 99) <= 2 and result.get("peak_mb", 9999) <= 256
        print(json.dumps(result), flush=True)
        if result.get("exit") != 1 or "panicked" in result.get("message", "") or not result.get("message"):
            failed.append(name)
    if not args.keep:
        for p in work.iterdir():
            p.unlink()
        work.rmdir()
    if args.check and failed:
        sys.exit(f"not refused with a message: {', '.join(failed)}")


if __name__ == "__main__":
    main()
