#!/usr/bin/env python3
"""ONNX Runtime against duet on every zoo model duet exports (ctest onnx_runtime_zoo).

    check_zoo.py EXPORTER OUT_DIR [CASE ...]

For each case (default: every name `EXPORTER --list` prints, plus resnet18, mobilenet_v2 and
efficientnet_b0 @dynamic and mobilenet_v2 / efficientnet_b0 @opset13_unfolded; export_zoo.cpp
describes them) the exporter writes CASE.onnx, the input and duet's logits; this script runs
onnx.checker.check_model(full_check=True) and ONNX Runtime (CPUExecutionProvider,
ORT_ENABLE_ALL) on the file, and compares:

    error = max|ort - duet| / max|duet|       (per model; passes when <= 1e-4)

The files of a case are removed once it is checked, so the disk holds one model at a time.
Exit code: 0 all pass, 1 on any failure.
"""
import os
import subprocess
import sys
import time

import numpy as np
import onnx
import onnx.checker
import onnx.numpy_helper
import onnxruntime as ort

TOLERANCE = 1e-4
EXTRA_CASES = ["resnet18@dynamic", "mobilenet_v2@dynamic", "efficientnet_b0@dynamic",
               "mobilenet_v2@opset13_unfolded", "efficientnet_b0@opset13_unfolded"]


def read_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)


def check(exporter, out, case):
    t0 = time.time()
    proc = subprocess.run([exporter, out, case], capture_output=True, text=True)
    t_export = time.time() - t0
    if proc.returncode != 0:
        print(f"{case:32s} FAIL: export exited {proc.returncode}: {proc.stderr.strip()}")
        return False
    path = os.path.join(out, case + ".onnx")
    files = [path] + [os.path.join(out, f"{case}.{k}.pb") for k in ("input", "output")]
    try:
        mb = os.path.getsize(path) / 2**20
        onnx.checker.check_model(path, full_check=True)
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = 2
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        x = read_tensor(files[1])
        ref = read_tensor(files[2])
        (got,) = sess.run(None, {sess.get_inputs()[0].name: x})
        if got.shape != ref.shape:
            print(f"{case:32s} FAIL: ORT output shape {got.shape}, duet {ref.shape}")
            return False
        scale = float(np.abs(ref).max())
        err = float(np.abs(got.astype(np.float64) - ref).max()) / max(scale, 1e-30)
        ok = err <= TOLERANCE
        nodes = len(onnx.load(path, load_external_data=False).graph.node)
        print(f"{case:32s} {mb:7.1f} MB {nodes:4d} nodes  input {tuple(x.shape)}  "
              f"max|ort-duet|/max|duet| = {err:.2e} (max|duet| {scale:.3g})  "
              f"export {t_export:.1f} s, total {time.time() - t0:.1f} s  "
              f"{'ok' if ok else 'FAIL'}")
        return ok
    except Exception as e:  # noqa: BLE001 - any checker/ORT error fails this case
        print(f"{case:32s} FAIL: {type(e).__name__}: {e}")
        return False
    finally:
        for f in files:
            if os.path.exists(f):
                os.remove(f)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exporter, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    cases = sys.argv[3:]
    if not cases:
        names = subprocess.run([exporter, "--list"], capture_output=True, text=True,
                               check=True).stdout.split()
        cases = names + EXTRA_CASES
    print(f"check_zoo: onnx {onnx.__version__}, onnxruntime {ort.__version__}, "
          f"{len(cases)} cases, tolerance {TOLERANCE:g} (max|ort-duet| / max|duet|)")
    ok = True
    for case in cases:
        ok = check(exporter, out, case) and ok
    print("check_zoo:", "all passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
