#!/usr/bin/env python3
"""ONNX Runtime against duet on every op-table sample duet exports (ctest onnx_runtime_ops).

    check_ops.py EXPORTER OUT_DIR

`EXPORTER --ops OUT_DIR` writes one model per sample of every op (op_cases.cpp) and a
manifest; this script runs onnx.checker.check_model(full_check=True) and ONNX Runtime
(CPUExecutionProvider, ORT_ENABLE_ALL) on each model and compares every output with duet's:
floating outputs with numpy.allclose(rtol=1e-4, atol=1e-5), integer and bool outputs exactly.
It prints one line per op (cases passed / exported) and the ops without a mapping.
Exit code: 0 all exported cases pass, 1 otherwise.
"""
import collections
import os
import subprocess
import sys

import numpy as np
import onnx
import onnx.checker
import onnx.numpy_helper
import onnxruntime as ort

RTOL, ATOL = 1e-4, 1e-5


def read_tensor(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return onnx.numpy_helper.to_array(t)


def op_of(case):
    return case.rsplit("_s", 1)[0]


def check_case(out, case, n_in, n_out):
    base = os.path.join(out, case)
    path = base + ".onnx"
    onnx.checker.check_model(path, full_check=True)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feeds = {sess.get_inputs()[k].name: read_tensor(f"{base}.in{k}.pb") for k in range(n_in)}
    got = sess.run(None, feeds)
    for k in range(n_out):
        ref = read_tensor(f"{base}.out{k}.pb")
        g = np.asarray(got[k])
        if g.shape != ref.shape:
            return f"output {k}: shape {g.shape}, duet {ref.shape}"
        if np.issubdtype(ref.dtype, np.floating):
            if not np.allclose(g, ref, rtol=RTOL, atol=ATOL, equal_nan=True):
                return f"output {k}: max|ort-duet| = {np.abs(g - ref).max():.3g}"
        elif not np.array_equal(g, ref):
            return f"output {k}: {int((g != ref).sum())} of {ref.size} values differ"
    return None


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    exporter, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    proc = subprocess.run([exporter, "--ops", out], capture_output=True, text=True)
    print(proc.stdout.strip())
    if proc.returncode != 0:
        print(f"check_ops: FAIL: the exporter exited {proc.returncode}: {proc.stderr.strip()}")
        return 1
    passed, total = collections.Counter(), collections.Counter()
    unmapped = {}
    failures = []
    with open(os.path.join(out, "manifest.txt")) as f:
        for line in f:
            case, kind, rest = line.rstrip("\n").split(" ", 2)
            if kind == "unmapped":
                unmapped.setdefault(op_of(case), rest)
                continue
            if kind == "error":
                total[op_of(case)] += 1
                failures.append(f"{case}: export failed: {rest}")
                continue
            n_in, n_out = map(int, rest.split())
            total[op_of(case)] += 1
            try:
                why = check_case(out, case, n_in, n_out)
            except Exception as e:  # noqa: BLE001 - a checker or ORT error fails the case
                why = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
            if why:
                failures.append(f"{case}: {why}")
            else:
                passed[op_of(case)] += 1
    print(f"check_ops: onnx {onnx.__version__}, onnxruntime {ort.__version__}, "
          f"rtol {RTOL:g}, atol {ATOL:g}")
    for op in sorted(total):
        note = f"  (other samples unmapped: {unmapped[op]})" if op in unmapped else ""
        print(f"  {op:24s} {passed[op]}/{total[op]} "
              f"{'ok' if passed[op] == total[op] else 'FAIL'}{note}")
    none = sorted(op for op in unmapped if op not in total)
    print(f"check_ops: {len(none)} ops without a mapping: {', '.join(none)}")
    for f in failures:
        print("  FAIL", f)
    ok = not failures
    print(f"check_ops: {sum(passed.values())}/{sum(total.values())} cases of {len(total)} ops "
          f"passed", "" if ok else "- FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
