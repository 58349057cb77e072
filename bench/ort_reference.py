#!/usr/bin/env python3
"""ONNX Runtime reference for duet-bench: CPU inference of torchvision's models, same CSV.

For each (model, input size, batch size) point: torchvision's model (random weights, seeded,
eval mode) exported by torch.onnx.export at that fixed input shape (N, 3, S, S), opset 17
(adaptive pooling does not export with a dynamic H, W on torch 1.13), cached in --model-dir;
then timed in ONNX Runtime: CPUExecutionProvider, ORT_ENABLE_ALL, intra_op_num_threads =
--threads, inter_op_num_threads = 1, sequential execution, one random input (standard
normal, float32) fed every step. --warmup untimed runs, then --steps runs timed one by one
(time.perf_counter around InferenceSession.run). Writes the rows of the study's
`;`-separated CSV exactly as bench/pytorch_reference.py does:

  ;Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device total;CUDA graph;Graph path;Precision
  0;onnxruntime;resnet18;(224, 224, 3);8;inference_cpu;;0.0412;-;0.0409;-;-;ORT_ENABLE_ALL;fp32

Framework is `onnxruntime`, Mode `inference_cpu`, Time and Median the mean and median
seconds per step; Memory and Device total are "-" (ONNX Runtime has no peak counter);
Graph path names the optimisation level. A point that runs out of memory is written with
Time, Memory and Median "-"; a point that fails otherwise is reported on stderr, gets no
row, and the exit status is 1.

Usage (the venv of scripts/python_venv.sh has onnxruntime; Debian's torch is visible in it):
  py=$(bash scripts/python_venv.sh | tail -n 1)
  $py bench/ort_reference.py --csv ort.csv        # 5 models x 224 x batches 1, 8
  $py bench/ort_reference.py --models resnet18 --sizes 32 --batches 1 --steps 1 \\
      --warmup 0 --threads 2 --csv /tmp/ort.csv --model-dir /tmp/onnx_models
  $py bench/ort_reference.py --export-only --model-dir DIR   # only write the .onnx files
  bench/compare.py duet.csv ort.csv --baseline onnxruntime   # ratios and geometric means
"""

import argparse
import gc
import json
import os
import statistics
import sys
import time
import warnings

from study_csv import HEADER, KNOWN_MODELS, NUM_CLASSES, comma_list, fmt_float, log

DEFAULT_MODELS = "resnet18,resnet50,mobilenet_v2,efficientnet_b0,vgg16"
OPSET = 17
GRAPH_PATH = "ORT_ENABLE_ALL"


def model_path(model_dir, name, size, batch):
    return os.path.join(model_dir, f"{name}_s{size}_b{batch}_opset{OPSET}.onnx")


def export(name, size, batch, path, seed):
    """torchvision's `name` (random weights, eval) -> ONNX at input (batch, 3, size, size)."""
    import torch  # only here: a run on cached files needs no torch
    import torchvision

    torch.manual_seed(seed)
    # No weights: torchvision >= 0.13 defaults to weights=None, older ones to pretrained=False.
    model = getattr(torchvision.models, name)(num_classes=NUM_CLASSES).eval()
    x = torch.randn(batch, 3, size, size)
    tmp = path + ".tmp"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), tmp, opset_version=OPSET, input_names=["input"],
                          output_names=["output"])
    os.replace(tmp, path)


def ensure_model(args, name, size, batch):
    path = model_path(args.model_dir, name, size, batch)
    if not os.path.exists(path):
        t0 = time.perf_counter()
        export(name, size, batch, path, args.seed)
        log(f"  exported {path} ({time.perf_counter() - t0:.1f} s)")
    return path


def make_session(ort, path, threads):
    so = ort.SessionOptions()
    if threads is not None:
        so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def is_oom(exc):
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "bad_alloc" in text or "failed to allocate" in text


def run_point(ort, np, args, pt):
    """Returns {"time_s", "median_s", "oom"}; raises on failures other than memory."""
    result = {"time_s": None, "median_s": None, "oom": False}
    sess = None
    try:
        sess = make_session(ort, pt["path"], args.threads)
        inp = sess.get_inputs()[0]
        x = np.random.default_rng(args.seed).standard_normal(
            (pt["batch"], 3, pt["size"], pt["size"])).astype(np.float32)
        feed = {inp.name: x}
        for _ in range(args.warmup):
            sess.run(None, feed)
        times = []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            sess.run(None, feed)
            times.append(time.perf_counter() - t0)
        result["time_s"] = statistics.fmean(times)
        result["median_s"] = statistics.median(times)
    except Exception as e:  # noqa: BLE001 - only out-of-memory is swallowed
        if not is_oom(e):
            raise
        result["oom"] = True
    sess = None
    gc.collect()
    return result


def csv_row(index, pt, res):
    return ";".join([
        str(index), "onnxruntime", pt["model"], f"({pt['size']}, {pt['size']}, 3)",
        str(pt["batch"]), "inference_cpu", "", fmt_float(res["time_s"]), "-",
        fmt_float(res["median_s"]), "-", "-", GRAPH_PATH, "fp32"])


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help=f"comma list of {', '.join(KNOWN_MODELS)} (default: {DEFAULT_MODELS})")
    ap.add_argument("--sizes", default="224", help="input sizes H=W (default 224)")
    ap.add_argument("--batches", default="1,8", help="batch sizes (default 1,8)")
    ap.add_argument("--threads", type=int, default=None,
                    help="intra_op_num_threads (default: ONNX Runtime's own, one per core)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per point (default 10)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    ap.add_argument("--seed", type=int, default=0, help="weights and input seed (default 0)")
    ap.add_argument("--model-dir", default=os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "duet", "ort_models"),
        help="where the exported .onnx files are cached (default ~/.cache/duet/ort_models)")
    ap.add_argument("--csv", metavar="FILE", help="write the rows to FILE")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON object per point on stdout as it finishes")
    ap.add_argument("--export-only", action="store_true",
                    help="only export the missing .onnx files, time nothing")
    args = ap.parse_args(argv)
    args.models = comma_list(args.models)
    bad = [m for m in args.models if m not in KNOWN_MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; known: {', '.join(KNOWN_MODELS)}")
    args.sizes = comma_list(args.sizes, int)
    args.batches = comma_list(args.batches, int)
    if not args.models or not args.sizes or not args.batches:
        ap.error("--models, --sizes and --batches must not be empty")
    if min(args.sizes) < 1 or min(args.batches) < 1:
        ap.error("--sizes and --batches must be positive")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    if args.threads is not None and args.threads < 1:
        ap.error("--threads must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.model_dir, exist_ok=True)
    points = [{"model": m, "size": s, "batch": b}
              for m in args.models for s in args.sizes for b in args.batches]
    failed = 0
    for pt in points:  # export first: the timed loop below runs nothing but ONNX Runtime
        try:
            pt["path"] = ensure_model(args, pt["model"], pt["size"], pt["batch"])
        except Exception as e:  # noqa: BLE001 - report, no row, go on
            failed += 1
            log(f"{pt['model']} {pt['size']}x{pt['batch']}: export FAILED: "
                f"{type(e).__name__}: {e}")
    if args.export_only:
        return 1 if failed else 0

    import numpy as np
    import onnxruntime as ort

    log(f"onnxruntime {ort.__version__}, CPUExecutionProvider, {GRAPH_PATH}, "
        f"intra_op_num_threads {args.threads or 'default'}, {len(points)} points")
    out = None
    if args.csv:
        out = open(args.csv, "w")
        out.write(HEADER + "\n")
        out.flush()
    written = 0
    try:
        for i, pt in enumerate(points):
            if "path" not in pt:
                continue
            tag = f"[{i + 1}/{len(points)}] onnxruntime {pt['model']} {pt['size']}x{pt['batch']}"
            try:
                res = run_point(ort, np, args, pt)
            except Exception as e:  # noqa: BLE001 - report, write no row, go on
                failed += 1
                log(f"{tag}: FAILED: {type(e).__name__}: {e}")
                gc.collect()
                continue
            if res["oom"]:
                log(f"{tag}: out of memory")
            else:
                log(f"{tag}: mean {res['time_s'] * 1e3:.2f} ms median "
                    f"{res['median_s'] * 1e3:.2f} ms")
            if out:
                out.write(csv_row(written, pt, res) + "\n")
                out.flush()
                written += 1
            if args.json:
                print(json.dumps({
                    "framework": "onnxruntime", "architecture": pt["model"],
                    "input_size": pt["size"], "batch_size": pt["batch"],
                    "mode": "inference_cpu", "time_s": res["time_s"],
                    "median_s": res["median_s"], "oom": res["oom"], "steps": args.steps,
                    "warmup": args.warmup, "threads": args.threads,
                    "onnxruntime": ort.__version__, "file": pt["path"]}), flush=True)
    finally:
        if out:
            out.close()
    if failed:
        log(f"ort_reference.py: {failed} point(s) failed (see above); no rows for them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
