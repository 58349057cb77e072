"""One model, three ways, step by step in the same minutes: ONNX Runtime, duet on the imported
file, duet's own zoo model of the same architecture. For bench/onnx/run_bench.sh.

    python compare_ort.py MODEL.onnx ZOO_NAME BENCH_ONNX_IMPORT [--threads 2] [--warmup 3]
                          [--steps 10] [--block 5] [--pause-ms 20]

ONNX Runtime runs here (CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads=N,
inter_op 1, sequential); duet runs in BENCH_ONNX_IMPORT --serve (duet::set_num_threads(N), both
executables compiled), which times one step per request. Each round times a block of --block
consecutive steps of each, in a rotating order, after a pause and one untimed step (both
libraries' idle workers spin a little, then sleep: the untimed step wakes them, as steady
back-to-back inference keeps them awake); a busy machine then slows all three alike instead of
whichever ran during the busy minute. --steps is rounded up to whole blocks. Prints one JSON line with the three medians and minimums (ms) and
every step.
"""
import argparse
import json
import subprocess
import sys
import time

import numpy as np
import onnxruntime as ort


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("zoo")
    ap.add_argument("bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--pause-ms", type=float, default=20)
    args = ap.parse_args()

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    ort_threads = int(sess.get_session_options().intra_op_num_threads)
    inp = sess.get_inputs()[0]
    x = np.random.default_rng(0).standard_normal(inp.shape).astype(np.float32)
    for _ in range(args.warmup):
        sess.run(None, {inp.name: x})

    duet = subprocess.Popen(
        [args.bench, args.model, args.zoo, "--threads", str(args.threads), "--warmup",
         str(args.warmup), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    ready = duet.stdout.readline().split()
    if not ready or ready[0] != "ready":
        sys.exit(f"compare_ort: {args.bench} did not start ({ready})")

    def duet_step(cmd):
        duet.stdin.write(cmd + "\n")
        duet.stdin.flush()
        return float(duet.stdout.readline())

    def ort_step():
        t0 = time.perf_counter()
        sess.run(None, {inp.name: x})
        return (time.perf_counter() - t0) * 1e3

    runners = {"ort": ort_step, "import": lambda: duet_step("i"), "zoo": lambda: duet_step("z")}
    order = ["ort", "import", "zoo"]
    steps = {k: [] for k in order}
    rounds = -(-args.steps // args.block)
    for i in range(rounds):
        for k in order[i % 3:] + order[:i % 3]:
            time.sleep(args.pause_ms / 1e3)
            runners[k]()  # not timed: wakes the library's sleeping worker threads
            for _ in range(args.block):
                steps[k].append(runners[k]())
    duet.stdin.write("q\n")
    duet.stdin.flush()
    duet.wait()
    med = {k: float(np.median(v)) for k, v in steps.items()}
    print(json.dumps({
        "model": args.zoo, "file": args.model, "batch": inp.shape[0], "ort_threads": ort_threads,
        "threads": args.threads, "ort_ms": med["ort"], "import_ms": med["import"],
        "zoo_ms": med["zoo"], "ort_min_ms": min(steps["ort"]),
        "import_min_ms": min(steps["import"]), "zoo_min_ms": min(steps["zoo"]),
        "import_nodes": int(ready[1]), "zoo_nodes": int(ready[2]),
        "ort_steps": [round(s, 2) for s in steps["ort"]],
        "import_steps": [round(s, 2) for s in steps["import"]],
        "zoo_steps": [round(s, 2) for s in steps["zoo"]]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
