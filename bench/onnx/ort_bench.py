"""Inference time of an ONNX model in ONNX Runtime (CPUExecutionProvider, ORT_ENABLE_ALL,
intra_op_num_threads=N, inter_op 1, sequential execution), for bench/onnx/run_bench.sh.

    python ort_bench.py MODEL.onnx [--threads 2] [--warmup 3] [--steps 10]

Prints one JSON line: {"file", "batch", "ort_threads", "ort_ms" (median), "ort_steps"}.
"""
import argparse
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    # What the session really uses (ORT reads back the configured value).
    threads = int(sess.get_session_options().intra_op_num_threads)
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    for _ in range(args.warmup):
        sess.run(None, {inp.name: x})
    steps = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        sess.run(None, {inp.name: x})
        steps.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"file": args.model, "batch": inp.shape[0], "ort_threads": threads,
                      "providers": sess.get_providers(), "ort_ms": float(np.median(steps)),
                      "ort_steps": [round(s, 2) for s in steps]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
