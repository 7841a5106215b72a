#!/usr/bin/env python3
"""Writes tests/fixtures/pytorch/: one small trained PyTorch model saved in the namings and
containers people actually use, plus the probabilities PyTorch itself computes with it, so the
Rust importer (src/weights/pytorch/, tests/native/pytorch.rs) is checked against real torch.save output
rather than against files we wrote ourselves.

Run it through scripts/dev/make-pytorch-fixtures.sh (it makes the venv). Not run by CI: the outputs
are committed. Everything runs on the CPU and is seeded, so a rerun with the same torch version
gives the same weights; other versions may differ in the last bits, which is fine because
probabilities.json is written from the same run as the weights.
"""

import argparse
import gzip
import io
import json
import pickletools
import struct
import sys
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import numpy as np
import safetensors.torch
import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
OUT_DIR = REPO / "tests" / "fixtures" / "pytorch"
SEED = 0
TRAIN_IMAGES = 6_000
BATCH = 64
LR = 0.003
PROBE_IMAGES = 100


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): big-endian magic 0x0000080N, N dimensions, then unsigned bytes."""
    raw = gzip.decompress(path.read_bytes())
    magic, = struct.unpack(">I", raw[:4])
    if magic >> 8 != 0x08:
        sys.exit(f"{path}: not an unsigned-byte IDX file (magic 0x{magic:08x})")
    dims = magic & 0xFF
    shape = struct.unpack(f">{dims}I", raw[4 : 4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load_split(data_dir: Path, prefix: str):
    images = read_idx(data_dir / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(data_dir / f"{prefix}-labels-idx1-ubyte.gz")
    x = torch.from_numpy(images.reshape(len(images), 784).astype(np.float32) / np.float32(255.0))
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def reference_model() -> nn.Sequential:
    """The original PyTorch model this project reimplements (README, "Model and recipes")."""
    return nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(64, 10),
    )


class FcMlp(nn.Module):
    """The same network written with named attributes: state_dict keys fc1.weight ... fc4.bias."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 64)
        self.fc4 = nn.Linear(64, 10)
        self.dropout = nn.Dropout(0.2)

    def forward(self, x):
        x = self.dropout(torch.relu(self.fc1(x)))
        x = self.dropout(torch.relu(self.fc2(x)))
        x = self.dropout(torch.relu(self.fc3(x)))
        return self.fc4(x)


class LayersNet(nn.Module):
    """The Sequential kept in an attribute named `layers`: keys layers.0.weight ... layers.9.bias."""

    def __init__(self):
        super().__init__()
        self.layers = reference_model()

    def forward(self, x):
        return self.layers(x)


def linear_tensors(model: nn.Sequential):
    """(weight, bias) of each Linear layer, in order."""
    return [(m.weight.detach(), m.bias.detach()) for m in model if isinstance(m, nn.Linear)]


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """One epoch of the reference recipe (Adam 0.003, batch 64, cross-entropy): the weights are
    those of a real trained model rather than an initialisation. Returns the mean loss."""
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    order = torch.randperm(len(x))
    total = 0.0
    for start in range(0, len(x), BATCH):
        idx = order[start : start + BATCH]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(x)


@torch.no_grad()
def probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    model.eval()
    return torch.softmax(model(x), dim=1)


def opcodes_of(path: Path) -> Counter:
    """Pickle opcodes used by a torch.save file (zip: its data.pkl; legacy: all its pickles)."""
    names = Counter()
    raw = path.read_bytes()
    if raw[:2] == b"PK":
        with zipfile.ZipFile(path) as z:
            pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
            streams = [z.read(pkl)]
    else:
        streams, f = [], io.BytesIO(raw)
        # Legacy files are five pickles in a row (magic, protocol, sys_info, data, storage
        # keys) followed by raw storages; stop at the first thing that is not a pickle.
        for _ in range(5):
            start = f.tell()
            try:
                for _op in pickletools.genops(f):
                    pass
            except Exception:
                break
            streams.append(raw[start : f.tell()])
    for stream in streams:
        for op, _arg, _pos in pickletools.genops(stream):
            names[op.name] += 1
    return names


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    x_train, y_train = load_split(args.data_dir, "train")
    x_test, y_test = load_split(args.data_dir, "t10k")

    model = reference_model()
    loss = train(model, x_train[:TRAIN_IMAGES], y_train[:TRAIN_IMAGES])
    probs = probabilities(model, x_test[:PROBE_IMAGES])
    full = probabilities(model, x_test)
    accuracy = (full.argmax(1) == y_test).float().mean().item()
    print(f"trained 1 epoch on {TRAIN_IMAGES} images: loss {loss:.4f}, test accuracy {accuracy:.4f}")

    sd = model.state_dict()
    pairs = linear_tensors(model)

    # 1. The plain state_dict of the reference nn.Sequential: 0.weight ... 9.bias.
    torch.save(sd, out / "sequential.pt")

    # 2. Named attributes: fc1.weight ... fc4.bias.
    fc = FcMlp()
    fc.load_state_dict(
        {f"fc{i + 1}.{kind}": t for i, (w, b) in enumerate(pairs) for kind, t in (("weight", w), ("bias", b))}
    )
    torch.save(fc.state_dict(), out / "fc.pth")

    # 3. A training checkpoint: the state_dict nested under "state_dict", with a "layers." prefix.
    net = LayersNet()
    net.layers.load_state_dict(sd)
    torch.save({"state_dict": net.state_dict(), "epoch": 1, "optimizer": "adam"}, out / "checkpoint-layers.pt")

    # 4. safetensors, as Hugging Face-style code writes it: model.0.weight ... model.9.bias.
    safetensors.torch.save_file(
        {f"model.{k}": v.contiguous() for k, v in sd.items()}, str(out / "model.safetensors"), metadata={"format": "pt"}
    )

    # 5. The same network without Dropout modules: Linear/ReLU pairs, indices 0, 2, 4, 6.
    nodrop = nn.Sequential(
        nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10),
    )
    nodrop.load_state_dict(
        {f"{2 * i}.{kind}": t for i, (w, b) in enumerate(pairs) for kind, t in (("weight", w), ("bias", b))}
    )
    torch.save(nodrop.state_dict(), out / "sequential-nodropout.pt")

    # 6. The legacy (pre-1.6, non-zip) container.
    torch.save(sd, out / "legacy.pt", _use_new_zipfile_serialization=False)

    # 7. A different network (784-128-10): the importer must say why it does not fit.
    torch.manual_seed(SEED + 1)
    wrong = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    torch.save(wrong.state_dict(), out / "wrong-shape.pt")

    # 8. Small tensors covering what the reader must handle beyond f32 state_dicts: other float
    #    dtypes, a Parameter (_rebuild_parameter), a view with a storage offset, two tensors
    #    sharing one storage, and a transposed (non-contiguous) tensor that must be refused.
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 8
    torch.save(
        OrderedDict(
            f32=base.clone(),
            f64=base.to(torch.float64),
            f16=base.to(torch.float16),
            bf16=base.to(torch.bfloat16),
            param=nn.Parameter(base.clone()),
            row=base[1],  # storage offset 4, shares base's storage with...
            shared=base,  # ...this one
        ),
        out / "dtypes.pt",
    )
    torch.save({"transposed": base.t()}, out / "noncontiguous.pt")

    # 9. A whole pickled module (torch.save(model)): the importer asks for the state_dict.
    torch.manual_seed(SEED + 2)
    torch.save(nn.Sequential(nn.Linear(4, 2)), out / "whole-model.pt")

    # Probabilities of the first test images, computed by PyTorch in eval mode (float32).
    (out / "probabilities.json").write_text(
        json.dumps(
            {
                "images": list(range(PROBE_IMAGES)),
                "probabilities": [[float(p) for p in row] for row in probs.tolist()],
                "torch_version": torch.__version__,
                "test_accuracy": round(accuracy, 4),
            },
            indent=1,
        )
        + "\n"
    )

    # Every container must hold exactly the reference model: reload each with torch and compare.
    def reloaded(state):
        m = reference_model()
        m.load_state_dict(state)
        return probabilities(m, x_test[:PROBE_IMAGES])

    checks = {
        "sequential.pt": reloaded(torch.load(out / "sequential.pt")),
        "fc.pth": reloaded({k.replace("fc1", "0").replace("fc2", "3").replace("fc3", "6").replace("fc4", "9"): v
                            for k, v in torch.load(out / "fc.pth").items()}),
        "checkpoint-layers.pt": reloaded({k.removeprefix("layers."): v
                                          for k, v in torch.load(out / "checkpoint-layers.pt")["state_dict"].items()}),
        "model.safetensors": reloaded({k.removeprefix("model."): v
                                       for k, v in safetensors.torch.load_file(out / "model.safetensors").items()}),
        "legacy.pt": reloaded(torch.load(out / "legacy.pt")),
    }
    nodrop2 = nn.Sequential(*[m for m in reference_model() if not isinstance(m, nn.Dropout)])
    nodrop2.load_state_dict(torch.load(out / "sequential-nodropout.pt"))
    checks["sequential-nodropout.pt"] = probabilities(nodrop2, x_test[:PROBE_IMAGES])
    for name, p in checks.items():
        if not torch.equal(p, probs):
            sys.exit(f"{name}: reloaded model gives different probabilities")

    # What this project exports: names 0.weight ... 9.bias (nn.Sequential indices, with the
    # Dropout modules between), weights [out, in], float32, and the project's own metadata.
    # Emulate src/weights/pytorch.rs `export`: burn keeps weights as [in, out], export transposes.
    burn_layout = [(w.t().contiguous(), b) for w, b in pairs]
    exported = {}
    for i, (w_in_out, b) in enumerate(burn_layout):
        exported[f"{3 * i}.weight"] = w_in_out.t().contiguous()
        exported[f"{3 * i}.bias"] = b.contiguous()
    export_path = out.parent / "export-check.safetensors.tmp"
    safetensors.torch.save_file(exported, str(export_path), metadata={"format": "fashion-mlp", "dropout": "0.2"})
    try:
        check = reference_model()
        check.load_state_dict(safetensors.torch.load_file(str(export_path)))  # strict: every key
        if not torch.equal(probabilities(check, x_test[:PROBE_IMAGES]), probs):
            sys.exit("exported safetensors: different probabilities")
    finally:
        export_path.unlink()
    print("export check: load_state_dict(safetensors.torch.load_file(...)) accepts 0.weight ... 9.bias")
    print("README snippet:")
    print("    import torch.nn as nn")
    print("    from safetensors.torch import load_file")
    print("    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(0.2), nn.Linear(256, 128), nn.ReLU(),")
    print("                          nn.Dropout(0.2), nn.Linear(128, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10))")
    print("    model.load_state_dict(load_file(\"model-pytorch.safetensors\"))")
    print("    model.eval()")

    print()
    for path in sorted(out.iterdir()):
        if path.suffix in (".pt", ".pth"):
            ops = opcodes_of(path)
            print(f"{path.name:26} {path.stat().st_size:>9,} bytes  opcodes: {' '.join(sorted(ops))}")
        elif path.name != "README.md":
            print(f"{path.name:26} {path.stat().st_size:>9,} bytes")
    print(f"torch {torch.__version__}, numpy {np.__version__}, safetensors {safetensors.__version__}")


if __name__ == "__main__":
    main()
