#!/usr/bin/env python3
"""Checks the classify example against PyTorch on torchvision models with random weights.

    /usr/bin/python3 tests/examples/classify_check.py build/examples/classify [--no-onnx]

For each (model, H, W): builds the torchvision model with random weights and random
batch-norm statistics and affine parameters, writes the state_dict and a random input batch
with a small pure-Python safetensors writer (no safetensors package), runs classify in
--mode eager and --mode graph, and checks max|duet - torch| / max|torch| <= 1e-4. Cases marked
"onnx" also write the model with --export-onnx and run that file with --onnx (duet's ONNX
export, then its importer) in both modes, against the same PyTorch logits.
PRECISION_CASES run classify --precision bf16 (autocast) in both modes against the same
float32 PyTorch logits with issue #14's bar (max|duet - torch| / max|torch| <= 2e-2, the same
top-1), check that the error is not 0 (autocast ran) and that the output file's metadata says
"precision": "bf16".
Exit code: 0 all pass, 1 on any failure, 77 (ctest: skipped) without torch/torchvision.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile
import time

try:
    import torch
    import torchvision
except Exception as e:  # noqa: BLE001 - any import failure means "cannot check here"
    print(f"classify_check: skipped, cannot import torch/torchvision ({e})")
    sys.exit(77)

TOLERANCE = 1e-4
BATCH = 2
CLASSES = 10
# (model, H, W, pass --num-classes, exported, onnx): the others let classify infer K from the
# weights; "exported" state dicts leave out BatchNorm's num_batches_tracked, as many exported
# checkpoints do (PyTorch loads them; so must classify); "onnx": --export-onnx, then --onnx.
CASES = [
    ("resnet18", 64, 64, False, False, True),
    ("resnet18", 97, 75, False, True, False),
    ("mobilenet_v2", 67, 67, False, True, True),
    ("efficientnet_b0", 64, 80, False, False, True),
    ("vgg16_bn", 32, 32, True, False, False),
    ("resnet50", 45, 45, True, False, False),
]

# (model, H, W): classify --precision bf16 against float32 PyTorch.
PRECISION_CASES = [("resnet18", 64, 64), ("mobilenet_v2", 64, 64)]
PRECISION_TOLERANCE = 2e-2

_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.bool: "BOOL"}


def write_safetensors(path, tensors, metadata=None):
    """The safetensors layout: u64 header length, JSON header padded to 8 bytes, data."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().cpu().contiguous()
        data = t.numpy().tobytes()  # little-endian on x86/arm64
        header[name] = {"dtype": _DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for data in blobs:
            f.write(data)


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    buf = raw[8 + n:]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", f"{name}: dtype {entry['dtype']}, expected F32"
        begin, end = entry["data_offsets"]
        out[name] = torch.frombuffer(bytearray(buf[begin:end]), dtype=torch.float32).reshape(
            entry["shape"])
    return out


def read_metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)).get("__metadata__", {})


def randomize_batch_norm(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)


def run_and_compare(label, cmd, out_path, ref):
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    secs = time.time() - t0
    if proc.returncode != 0:
        print(f"{label} FAIL: exit {proc.returncode}: {proc.stderr.strip()}")
        return False
    out = read_safetensors(out_path).get("output")
    if out is None or tuple(out.shape) != tuple(ref.shape):
        shape = None if out is None else tuple(out.shape)
        print(f"{label} FAIL: output shape {shape}, expected {tuple(ref.shape)}")
        return False
    scale = ref.abs().max().item()
    err = (out - ref).abs().max().item() / max(scale, 1e-30)
    passed = err <= TOLERANCE
    print(f"{label} max|duet-torch|/max|torch| = {err:.3e} (max|torch| {scale:.3g}, "
          f"{secs:.1f} s) {'ok' if passed else 'FAIL'}")
    return passed


def check_case(binary, workdir, name, h, w, pass_k, exported, onnx, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None, num_classes=CLASSES)
    randomize_batch_norm(model, gen)
    model.eval()
    x = torch.randn(BATCH, 3, h, w, generator=gen)
    with torch.no_grad():
        ref = model(x)
    tag = f"{name}_{h}x{w}"
    weights = os.path.join(workdir, f"{tag}.weights.safetensors")
    inputs = os.path.join(workdir, f"{tag}.input.safetensors")
    state = model.state_dict()
    if exported:
        state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    write_safetensors(weights, state, {"format": "pt"})
    write_safetensors(inputs, {"input": x})
    onnx_path = os.path.join(workdir, f"{tag}.onnx")
    ok = True
    for mode in ("eager", "graph"):
        out_path = os.path.join(workdir, f"{tag}.{mode}.output.safetensors")
        cmd = [binary, "--model", name, "--weights", weights, "--input", inputs,
               "--output", out_path, "--mode", mode]
        if pass_k:
            cmd += ["--num-classes", str(CLASSES)]
        if onnx and mode == "eager":
            cmd += ["--export-onnx", onnx_path]
        label = f"{name:16s} {h:3d}x{w:<3d} {mode:5s}"
        if exported:
            label += " (no num_batches_tracked)"
        ok = run_and_compare(label, cmd, out_path, ref) and ok
    if onnx and os.path.exists(onnx_path):
        for mode in ("eager", "graph"):
            out_path = os.path.join(workdir, f"{tag}.onnx.{mode}.output.safetensors")
            cmd = [binary, "--onnx", onnx_path, "--input", inputs, "--output", out_path,
                   "--mode", mode]
            label = f"{name:16s} {h:3d}x{w:<3d} {mode:5s} (--export-onnx, then --onnx)"
            ok = run_and_compare(label, cmd, out_path, ref) and ok
        os.remove(onnx_path)
    for path in (weights, inputs):
        os.remove(path)
    return ok


def check_precision_case(binary, workdir, name, h, w, seed):
    """classify --precision bf16 (eager and graph) against float32 PyTorch logits."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None, num_classes=CLASSES)
    randomize_batch_norm(model, gen)
    model.eval()
    x = torch.randn(BATCH, 3, h, w, generator=gen)
    with torch.no_grad():
        ref = model(x)
    tag = f"{name}_{h}x{w}_bf16"
    weights = os.path.join(workdir, f"{tag}.weights.safetensors")
    inputs = os.path.join(workdir, f"{tag}.input.safetensors")
    write_safetensors(weights, model.state_dict(), {"format": "pt"})
    write_safetensors(inputs, {"input": x})
    ok = True
    for mode in ("eager", "graph"):
        out_path = os.path.join(workdir, f"{tag}.{mode}.output.safetensors")
        cmd = [binary, "--model", name, "--weights", weights, "--input", inputs,
               "--output", out_path, "--mode", mode, "--precision", "bf16"]
        label = f"{name:16s} {h:3d}x{w:<3d} {mode:5s} --precision bf16"
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or "precision bf16" not in proc.stdout:
            print(f"{label} FAIL: exit {proc.returncode}: {proc.stdout.strip()} "
                  f"{proc.stderr.strip()}")
            ok = False
            continue
        out = read_safetensors(out_path)["output"]
        meta = read_metadata(out_path)
        scale = ref.abs().max().item()
        err = (out - ref).abs().max().item() / max(scale, 1e-30)
        same_top1 = bool((out.argmax(1) == ref.argmax(1)).all())
        passed = (1e-6 < err <= PRECISION_TOLERANCE and same_top1 and
                  meta.get("precision") == "bf16")
        print(f"{label} max|duet-torch fp32|/max|torch| = {err:.3e} (bar "
              f"{PRECISION_TOLERANCE:g}, > 0: autocast ran), top-1 same {same_top1}, "
              f"metadata precision {meta.get('precision')} {'ok' if passed else 'FAIL'}")
        ok = passed and ok
    for path in (weights, inputs):
        os.remove(path)
    return ok


def main():
    if len(sys.argv) < 2:
        print("usage: classify_check.py PATH/TO/classify [--no-onnx]")
        return 1
    binary = os.path.abspath(sys.argv[1])
    with_onnx = "--no-onnx" not in sys.argv[2:]  # a libduet built without protobuf
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    print(f"classify_check: torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"tolerance {TOLERANCE:g}")
    all_ok = True
    with tempfile.TemporaryDirectory(prefix="duet_classify_") as workdir:
        for i, (name, h, w, pass_k, exported, onnx) in enumerate(CASES):
            all_ok = check_case(binary, workdir, name, h, w, pass_k, exported,
                                onnx and with_onnx, seed=i) and all_ok
        for i, (name, h, w) in enumerate(PRECISION_CASES):
            all_ok = check_precision_case(binary, workdir, name, h, w, seed=100 + i) and all_ok
    print("classify_check:", "all passed" if all_ok else "FAILED")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
