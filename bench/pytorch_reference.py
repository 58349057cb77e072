#!/usr/bin/env python3
"""PyTorch reference for duet-bench: the study's grid, run in PyTorch, same CSV.

Runs every (model, input size, batch size, mode, execution) point of the
TF-vs-PyTorch study's grid (see /work/shared/seed-benchmark/README.md) with
torchvision's models and writes the study's `;`-separated CSV, with two extra
columns (Median, Device total), exactly as duet-bench does:

  ;Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device total
  0;pytorch-eager;resnet18;(224, 224, 3);8;train;;0.0412;-;0.0409;-

Framework is `pytorch-eager` or `pytorch-graph`; Time and Median are seconds
per step (mean / median over --steps individually timed steps after --warmup
untimed ones); Mode is `train`, `inference_cpu` or `inference_gpu`.

Step definitions (random images (N, 3, S, S), random labels in [0, 1000)):
  train:      model.train(); forward + nn.CrossEntropyLoss + backward +
              torch.optim.Adam(lr=1e-3).step(), zero_grad(set_to_none=True).
  inference:  model.eval(); forward only.
Execution:
  eager:  plain nn.Module; inference under torch.inference_mode().
  graph:  inference -> torch.jit.optimize_for_inference(torch.jit.freeze(
          torch.jit.script(model))) (torch.jit.trace if scripting fails) under
          no_grad; on CUDA torch.compile(mode="reduce-overhead") when the torch
          has it. train -> torch.compile(model) (CUDA: mode="reduce-overhead");
          torch < 2.0 has no torch.compile, so graph training points are
          skipped with a note on stderr (no rows are written for them).
Memory:
  CUDA: torch.cuda.max_memory_allocated() over the timed steps (MB), and the
        device's used memory (total - free from torch.cuda.mem_get_info) in MB
        as "Device total".
  CPU:  "-" in both columns: PyTorch has no peak counter for its CPU allocator.
Out of memory (torch.cuda.OutOfMemoryError, RuntimeError mentioning "out of
memory" or the CPU allocator's "can't allocate memory", MemoryError): the row
is written with Time, Memory and Median "-", caches are freed, the run goes on.

Usage (Debian's torch is in /usr/bin/python3):
  /usr/bin/python3 bench/pytorch_reference.py --csv pytorch.csv
  /usr/bin/python3 bench/pytorch_reference.py --models resnet18,mobilenet_v2 \\
      --sizes 64 --batches 2 --steps 3 --warmup 1 --threads 2 --csv /tmp/pt.csv
  /usr/bin/python3 bench/pytorch_reference.py --device cuda --modes train --json
  bench/compare.py duet.csv pytorch.csv     # ratios and geometric means
"""

import argparse
import gc
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

try:
    import torchvision
except ImportError:  # pragma: no cover - reported at start-up
    torchvision = None

STUDY_MODELS = "resnet18,resnet50,resnet152,vgg16,mobilenet_v2,efficientnet_b4,efficientnet_b7"
KNOWN_MODELS = (["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                 "vgg16", "vgg16_bn", "mobilenet_v2"] +
                [f"efficientnet_b{i}" for i in range(8)])
NUM_CLASSES = 1000
HEADER = ";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device total"


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def has_compile():
    return hasattr(torch, "compile")


def is_oom(exc):
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return "out of memory" in text or "can't allocate memory" in text
    return False


def build_model(name, seed, device):
    torch.manual_seed(seed)
    ctor = getattr(torchvision.models, name)
    # No weights: torchvision >= 0.13 defaults to weights=None, older ones to pretrained=False.
    model = ctor(num_classes=NUM_CLASSES)
    return model.to(device)


def make_inputs(batch, size, device):
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)
    return x, y


def make_train_step(model, x, y, execution, device):
    model.train()
    net = model
    mark_step = None
    if execution == "graph":
        if device.type == "cuda":
            net = torch.compile(model, mode="reduce-overhead")
            # CUDA graphs reuse their output buffers; tell them where a new iteration starts.
            compiler = getattr(torch, "compiler", None)
            mark_step = getattr(compiler, "cudagraph_mark_step_begin", None)
        else:
            net = torch.compile(model)
    criterion = nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        if mark_step is not None:
            mark_step()
        opt.zero_grad(set_to_none=True)
        loss = criterion(net(x), y)
        loss.backward()
        opt.step()

    return step


def script_for_inference(model, x):
    """Frozen, inference-optimised TorchScript; trace when scripting fails."""
    try:
        module = torch.jit.script(model)
    except Exception as e:  # noqa: BLE001 - any scripting failure falls back to trace
        if is_oom(e):
            raise
        log(f"  torch.jit.script failed ({type(e).__name__}); tracing instead")
        with torch.no_grad():
            module = torch.jit.trace(model, x)
    module = torch.jit.freeze(module.eval())
    if hasattr(torch.jit, "optimize_for_inference"):
        module = torch.jit.optimize_for_inference(module)
    return module


def make_inference_step(model, x, execution, device):
    model.eval()
    if execution == "eager":
        def step():
            with torch.inference_mode():
                model(x)
        return step

    if device.type == "cuda" and has_compile():
        net = torch.compile(model, mode="reduce-overhead")
    else:
        net = script_for_inference(model, x)

    def step():
        with torch.no_grad():
            net(x)

    return step


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step, warmup, steps, device):
    for _ in range(warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def run_point(pt, args, device):
    """Returns a result dict; 'oom' True when the point did not fit in memory."""
    result = {"time_s": None, "median_s": None, "memory_mb": None,
              "device_total_mb": None, "oom": False}
    oom = False
    try:
        model = build_model(pt["model"], args.seed, device)
        x, y = make_inputs(pt["batch"], pt["size"], device)
        if pt["mode"] == "train":
            step = make_train_step(model, x, y, pt["exec"], device)
        else:
            step = make_inference_step(model, x, pt["exec"], device)
        times = time_steps(step, args.warmup, args.steps, device)
        result["time_s"] = statistics.fmean(times)
        result["median_s"] = statistics.median(times)
        if device.type == "cuda":
            result["memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
            free, total = torch.cuda.mem_get_info(device)
            result["device_total_mb"] = (total - free) / 2**20
    except Exception as e:  # noqa: BLE001 - only OOM is swallowed
        if not is_oom(e):
            raise
        oom = True
    # Free outside the except block: the traceback would keep the tensors alive.
    model = x = y = step = None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    result["oom"] = oom
    return result


def fmt_float(v, spec=None):
    if v is None:
        return "-"
    return format(v, spec) if spec else repr(float(v))


def csv_row(index, pt, res, device, gpu_index):
    return ";".join([
        str(index),
        pt["framework"],
        pt["model"],
        f"({pt['size']}, {pt['size']}, 3)",
        str(pt["batch"]),
        pt["mode_name"],
        "" if gpu_index is None else str(gpu_index),
        fmt_float(res["time_s"]),
        fmt_float(res["memory_mb"], ".1f"),
        fmt_float(res["median_s"]),
        fmt_float(res["device_total_mb"], ".1f"),
    ])


def comma_list(text, conv=str):
    return [conv(t.strip()) for t in text.split(",") if t.strip()]


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("--models", default=STUDY_MODELS,
                    help=f"comma list of {', '.join(KNOWN_MODELS)} (default: the study's)")
    ap.add_argument("--sizes", default="128,224,320", help="input sizes H=W (default 128,224,320)")
    ap.add_argument("--batches", default="1,8,16,32", help="batch sizes (default 1,8,16,32)")
    ap.add_argument("--modes", default="train,inference", help="train,inference (default both)")
    ap.add_argument("--exec", dest="execs", default="eager,graph",
                    help="eager,graph (default both)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--steps", type=int, default=100, help="timed steps per point (default 100)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first (default 5)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads (default: torch's own default)")
    ap.add_argument("--csv", metavar="FILE", help="write the rows to FILE")
    ap.add_argument("--json", action="store_true",
                    help="print one JSON object per point on stdout as it finishes")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed per point (default 0)")
    ap.add_argument("--tf32", action="store_true",
                    help="CUDA: allow TF32 in matmul and cuDNN (default off: strict fp32, as "
                         "duet-bench without --tf32)")
    ap.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false",
                    help="CUDA: let cuDNN pick algorithms by heuristics (default: "
                         "torch.backends.cudnn.benchmark = True, which times them as duet does)")
    args = ap.parse_args(argv)

    args.models = comma_list(args.models)
    bad = [m for m in args.models if m not in KNOWN_MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; known: {', '.join(KNOWN_MODELS)}")
    args.sizes = comma_list(args.sizes, int)
    args.batches = comma_list(args.batches, int)
    args.modes = comma_list(args.modes)
    args.execs = comma_list(args.execs)
    if not set(args.modes) <= {"train", "inference"} or not args.modes:
        ap.error("--modes takes train and/or inference")
    if not set(args.execs) <= {"eager", "graph"} or not args.execs:
        ap.error("--exec takes eager and/or graph")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    return args


def grid(args, device):
    """The points to run, in the study's order (framework, architecture, size, batch)."""
    points, skipped = [], 0
    for mode in args.modes:
        mode_name = "train" if mode == "train" else f"inference_{'gpu' if device.type == 'cuda' else 'cpu'}"
        for execution in args.execs:
            for model in args.models:
                for size in args.sizes:
                    for batch in args.batches:
                        if mode == "train" and execution == "graph" and not has_compile():
                            skipped += 1
                            continue
                        points.append({"mode": mode, "mode_name": mode_name, "exec": execution,
                                       "framework": f"pytorch-{execution}", "model": model,
                                       "size": size, "batch": batch})
    return points, skipped


def main(argv=None):
    args = parse_args(argv)
    if torchvision is None:
        log("pytorch_reference.py: torchvision is not installed")
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        log("pytorch_reference.py: --device cuda but torch.cuda.is_available() is False")
        return 2
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        # Like for like with duet: fp32 without TF32 unless both are given --tf32, and cuDNN
        # algorithms chosen by timing (duet runs cudnnFind once per shape).
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
    gpu_index = torch.cuda.current_device() if device.type == "cuda" else None

    points, skipped = grid(args, device)
    log(f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}, "
        f"{torch.get_num_threads()} threads, {len(points)} points")
    if skipped:
        log(f"note: torch {torch.__version__} has no torch.compile (needs torch >= 2.0): "
            f"skipping {skipped} pytorch-graph train point(s); no rows are written for them")

    out = None
    if args.csv:
        out = open(args.csv, "w")
        out.write(HEADER + "\n")
        out.flush()
    failed = 0
    written = 0
    try:
        for i, pt in enumerate(points):
            tag = (f"[{i + 1}/{len(points)}] {pt['framework']} {pt['model']} {pt['mode_name']} "
                   f"{pt['size']}x{pt['batch']}")
            try:
                res = run_point(pt, args, device)
            except Exception as e:  # noqa: BLE001 - report, write no row, go on
                failed += 1
                log(f"{tag}: FAILED: {type(e).__name__}: {e}")
                gc.collect()
                continue
            if res["oom"]:
                log(f"{tag}: out of memory")
            else:
                msg = f"{tag}: mean {res['time_s'] * 1e3:.1f} ms median {res['median_s'] * 1e3:.1f} ms"
                if res["memory_mb"] is not None:
                    msg += f" peak {res['memory_mb']:.0f} MB"
                log(msg)
            if out:
                out.write(csv_row(written, pt, res, device, gpu_index) + "\n")
                out.flush()
                written += 1
            if args.json:
                print(json.dumps({
                    "framework": pt["framework"], "architecture": pt["model"],
                    "input_size": pt["size"], "batch_size": pt["batch"], "mode": pt["mode_name"],
                    "gpu_index": gpu_index, "time_s": res["time_s"], "median_s": res["median_s"],
                    "memory_mb": res["memory_mb"], "device_total_mb": res["device_total_mb"],
                    "oom": res["oom"], "steps": args.steps, "warmup": args.warmup,
                    "threads": torch.get_num_threads(), "torch": torch.__version__,
                }), flush=True)
    finally:
        if out:
            out.close()
    if failed:
        log(f"pytorch_reference.py: {failed} point(s) failed (see above); no rows for them")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
