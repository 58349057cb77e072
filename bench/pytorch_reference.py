#!/usr/bin/env python3
"""PyTorch reference for duet-bench: the study's grid, run in PyTorch, same CSV.

Runs every (model, input size, batch size, mode, execution) point of the
TF-vs-PyTorch study's grid (see /work/shared/seed-benchmark/README.md) with
torchvision's models and writes the study's `;`-separated CSV, with two extra
columns (Median, Device total), exactly as duet-bench does:

  ;Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;Device total;
  CUDA graph;Graph path;Precision   (one line in the file)
  0;pytorch-eager;resnet18;(224, 224, 3);8;train;;0.0412;-;0.0409;-;-;-;fp32

Framework is `pytorch-eager` or `pytorch-graph`; Time and Median are seconds
per step (mean / median over --steps individually timed steps after --warmup
untimed ones); Mode is `train`, `inference_cpu` or `inference_gpu`. Two more
columns say how a `pytorch-graph` row ran: CUDA graph (on / off / skipped, "-"
for eager rows and on the CPU) and Graph path (below; "-" for eager rows);
the last, Precision, says fp32, bf16 or fp16 (below).

Step definitions (random images (N, 3, S, S), random labels in [0, 1000)):
  train:      model.train(); forward + nn.CrossEntropyLoss + backward +
              torch.optim.Adam(lr=1e-3).step(), zero_grad(set_to_none=True).
  inference:  model.eval(); forward only.
Execution:
  eager:  plain nn.Module; inference under torch.inference_mode().
  graph, CPU: inference -> "torchscript-frozen":
          torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(
          model))) (torch.jit.trace if scripting fails) under no_grad; train ->
          "compile": torch.compile(model) (torch >= 2.0; torch < 2.0 has no
          torch.compile, so CPU graph training points are skipped with a note on
          stderr, no rows).
  graph, CUDA (--torch-graph, default auto):
          "compile-reduce-overhead": torch.compile(mode="reduce-overhead")
          (CUDA graphs through inductor's cudagraph trees) of the model and its
          loss; Adam's step stays eager. Used by auto when torch.compile exists
          and triton is usable; a failure while compiling falls back to:
          "cuda-graph": CUDA-graphed eager, the whole step captured with
          torch.cuda.graph on static input tensors after warm-up steps on a side
          stream ("whole network capture" in PyTorch's CUDA semantics notes):
          forward, loss, backward and Adam(capturable=True).step() for train,
          the forward under no_grad for inference; each timed step copies the
          inputs into the static tensors and replays. torch < 2.0 always takes
          this path on CUDA.
Precision (--precision fp32,bf16,fp16, a grid dimension like --batches; the
CSV's last column, Precision):
  fp32:   no autocast (the default).
  bf16:   the forward pass and the loss under torch.autocast(device, dtype=
          torch.bfloat16): on the CPU oneDNN's bfloat16 kernels, on CUDA tensor
          cores; parameters and Adam stay float32 (as duet's autocast).
  fp16:   CUDA only: torch.autocast("cuda", dtype=torch.float16), and training
          scales the loss with a GradScaler (torch.amp.GradScaler("cuda"), or
          torch.cuda.amp.GradScaler on torch < 2.3): scale(loss).backward(),
          step(opt), update(). fp16 on the CPU is skipped with a note (CPU
          autocast is bfloat16-only on torch 1.13, and oneDNN has no fp16
          compute on these CPUs); no rows are written for it.
  Graph paths under autocast: the CPU inference path traces the model inside
  torch.autocast(cache_enabled=False) and freezes it (no
  optimize_for_inference; the trace holds the casts); torch.compile paths run
  the compiled module inside torch.autocast; the whole-step CUDA capture runs
  autocast(cache_enabled=False) inside the capture (cached casts must not
  outlive it), and skips fp16 training (GradScaler.step reads found-inf on the
  host, which a capture cannot), with a note and no row.
Memory:
  CUDA: torch.cuda.max_memory_allocated() over the timed steps (MB), and the
        device's used memory (total - free from torch.cuda.mem_get_info) in MB
        as "Device total". A CUDA graph's intermediate tensors are allocated
        only while it is captured (its private pool is reused by replays), so
        for the graph paths the peak is reset before the capture instead: the
        cuda-graph path after its eager warm-up, the compile path after its
        first (compiling, uncaptured) call.
  CPU:  "-" in both columns: PyTorch has no peak counter for its CPU allocator.
Out of memory (torch.cuda.OutOfMemoryError, RuntimeError mentioning "out of
memory" or the CPU allocator's "can't allocate memory", MemoryError): the row
is written with Time, Memory and Median "-", caches are freed, the run goes on.

Usage (Debian's torch is in /usr/bin/python3):
  /usr/bin/python3 bench/pytorch_reference.py --csv pytorch.csv
  /usr/bin/python3 bench/pytorch_reference.py --models resnet18,mobilenet_v2 \\
      --sizes 64 --batches 2 --steps 3 --warmup 1 --threads 2 --csv /tmp/pt.csv
  /usr/bin/python3 bench/pytorch_reference.py --device cuda --modes train --json
  python3 bench/pytorch_reference.py --device cuda --torch-graph cuda-graph \\
      --models resnet18 --sizes 224 --batches 1 --modes train,inference
  /usr/bin/python3 bench/pytorch_reference.py --models resnet50 --sizes 224 \\
      --batches 8 --modes inference --precision fp32,bf16 --threads 2 --csv pt.csv
  python3 bench/pytorch_reference.py --device cuda --models resnet50 --sizes 224 \\
      --batches 32 --modes train --precision fp32,fp16,bf16 --csv pt_gpu.csv
  bench/compare.py duet.csv pytorch.csv     # ratios and geometric means
"""

import argparse
import contextlib
import gc
import importlib
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

from study_csv import HEADER, KNOWN_MODELS, NUM_CLASSES, PRECISIONS, comma_list, fmt_float, log

try:
    import torchvision
except ImportError:  # pragma: no cover - reported at start-up
    torchvision = None

STUDY_MODELS = "resnet18,resnet50,resnet152,vgg16,mobilenet_v2,efficientnet_b4,efficientnet_b7"
# Warm-up calls of the graph paths on CUDA: call 1 compiles (or runs eagerly), later calls
# record the CUDA graph; the timed steps must all be replays.
CUDA_GRAPH_MIN_WARMUP = 3


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PointSkipped(Exception):
    """This point cannot run in this configuration (said on stderr; no row)."""


def autocast(precision, device, cache_enabled=True):
    """torch.autocast for bf16 / fp16, a no-op context for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision],
                          cache_enabled=cache_enabled)


def make_grad_scaler(device):
    """fp16 loss scaling: torch.amp.GradScaler("cuda") (torch >= 2.3) or torch.cuda.amp's."""
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):
        return amp.GradScaler(device.type)
    return torch.cuda.amp.GradScaler()


def has_compile():
    return hasattr(torch, "compile")


def compile_usable():
    """(usable, reason): torch.compile exists and inductor's GPU backend (triton) loads."""
    if not has_compile():
        return False, f"torch {torch.__version__} has no torch.compile"
    try:
        from torch.utils._triton import has_triton  # torch >= 2.1
    except ImportError:
        try:
            import triton  # noqa: F401
        except ImportError:
            return False, "triton is not installed"
        return True, ""
    try:
        if not has_triton():
            return False, "triton is not usable on this device"
    except Exception as e:  # noqa: BLE001 - treat any probe failure as unusable
        return False, f"triton probe failed ({type(e).__name__}: {e})"
    return True, ""


def cudagraph_skips():
    """Inductor's count of graphs it did not CUDA-graph (None when this torch has no counter)."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return None
    return counters["inductor"].get("cudagraph_skips", 0)


class GraphPathFailed(Exception):
    """The compile path failed for a reason other than memory; the caller falls back."""


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


class WithLoss(nn.Module):
    """model + cross-entropy as one module, so torch.compile sees the loss too."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.criterion = nn.CrossEntropyLoss()

    def forward(self, x, y):
        return self.criterion(self.model(x), y)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Step:
    """One benchmark step: run() is timed. warm(n) runs the untimed steps and resets the peak
    memory counter where this path's measurement starts; graph_path / cuda_graph describe it."""

    graph_path = "-"
    cuda_graph = "-"

    def __init__(self, fn, device):
        self.fn = fn
        self.device = device

    def run(self):
        self.fn()

    def warm(self, n):
        for _ in range(n):
            self.run()
        sync(self.device)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)


class CompiledCudaStep(Step):
    """torch.compile(mode="reduce-overhead"): call 1 compiles and runs uncaptured, later calls
    record and replay CUDA graphs (cudagraph trees)."""

    graph_path = "compile-reduce-overhead"
    cuda_graph = "on"

    def __init__(self, fn, device, mark_step):
        super().__init__(fn, device)
        self.mark_step = mark_step

    def run(self):
        if self.mark_step is not None:
            self.mark_step()  # a new iteration: outputs of the last replay may be overwritten
        self.fn()

    def warm(self, n):
        skips = cudagraph_skips()
        try:
            self.run()  # compiles
            sync(self.device)
        except Exception as e:  # noqa: BLE001 - OOM propagates, anything else falls back
            if is_oom(e):
                raise
            raise GraphPathFailed(f"{type(e).__name__}: {e}") from e
        torch.cuda.reset_peak_memory_stats(self.device)  # from the recording on
        for _ in range(max(n, CUDA_GRAPH_MIN_WARMUP) - 1):
            self.run()
        sync(self.device)
        after = cudagraph_skips()
        if skips is not None and after is not None and after > skips:
            self.cuda_graph = "skipped"
            log("  note: inductor skipped CUDA graphs for (part of) this step "
                "(TORCH_LOGS=perf_hints says why); CUDA graph column: skipped")


class CapturedCudaStep(Step):
    """CUDA-graphed eager: warm-up on a side stream, capture the whole step once with
    torch.cuda.graph on static inputs, then replay (copying the inputs in first)."""

    graph_path = "cuda-graph"
    cuda_graph = "on"

    def __init__(self, warm_fn, static_inputs, inputs, device, capture_fn=None,
                 before_capture=None):
        super().__init__(warm_fn, device)
        self.capture_fn = capture_fn or warm_fn
        self.static_inputs = static_inputs
        self.inputs = inputs
        self.before_capture = before_capture
        self.graph = None

    def run(self):
        for static, x in zip(self.static_inputs, self.inputs):
            static.copy_(x, non_blocking=True)
        self.graph.replay()

    def warm(self, n):
        # Warm-up (cuDNN benchmarking, optimizer state, lazy inits) on a side stream, as the
        # capture must not see first-call work. At least 3 iterations, as PyTorch's docs do.
        side = torch.cuda.Stream(device=self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(max(n, CUDA_GRAPH_MIN_WARMUP)):
                self.fn()
        torch.cuda.current_stream(self.device).wait_stream(side)
        sync(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)  # the capture's allocations count
        if self.before_capture is not None:
            self.before_capture()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.capture_fn()
        sync(self.device)
        self.run()  # first replay, untimed
        sync(self.device)


def make_train_step(model, x, y, execution, device, graph_path, precision="fp32"):
    model.train()
    scaler = make_grad_scaler(device) if precision == "fp16" else None

    def backward_and_step(loss, opt):
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)  # skipped on inf/NaN gradients
            scaler.update()

    if execution == "graph" and device.type == "cuda" and graph_path == "cuda-graph":
        if scaler is not None:
            raise PointSkipped("fp16 training with a GradScaler cannot be captured whole "
                               "(GradScaler.step reads found-inf on the host)")
        # Adam's capturable mode keeps its step count on the GPU, as a captured step needs.
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, capturable=True)
        criterion = nn.CrossEntropyLoss()
        static_x, static_y = x.clone(), y.clone()

        def eager_step():
            # No zero_grad in the captured step: the capture allocates the gradients (they
            # are None before it) and every replay overwrites them, as in PyTorch's
            # "whole network capture" example. Autocast without its cast cache: cached casts
            # must not outlive the capture.
            with autocast(precision, device, cache_enabled=False):
                loss = criterion(model(static_x), static_y)
            loss.backward()
            opt.step()

        def warm_step():
            opt.zero_grad(set_to_none=True)
            eager_step()

        return CapturedCudaStep(warm_step, [static_x, static_y], [x, y], device,
                                capture_fn=eager_step,
                                before_capture=lambda: opt.zero_grad(set_to_none=True))

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if execution == "graph" and device.type == "cuda":  # compile-reduce-overhead
        net = torch.compile(WithLoss(model), mode="reduce-overhead")
        compiler = getattr(torch, "compiler", None)
        mark_step = getattr(compiler, "cudagraph_mark_step_begin", None)

        def fn():
            opt.zero_grad(set_to_none=True)
            with autocast(precision, device):
                loss = net(x, y)
            backward_and_step(loss, opt)

        return CompiledCudaStep(fn, device, mark_step)

    net = model
    if execution == "graph":  # CPU, torch >= 2.0
        net = torch.compile(model)
    criterion = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        with autocast(precision, device):
            loss = criterion(net(x), y)
        backward_and_step(loss, opt)

    s = Step(step, device)
    if execution == "graph":
        s.graph_path = "compile"
        s.cuda_graph = "-"
    return s


def script_for_inference(model, x, precision="fp32"):
    """Frozen, inference-optimised TorchScript; trace when scripting fails. bf16: traced inside
    torch.autocast(cache_enabled=False) (the trace records the casts) and frozen."""
    if precision != "fp32":
        with torch.no_grad(), autocast(precision, torch.device("cpu"), cache_enabled=False):
            module = torch.jit.trace(model, x)
        return torch.jit.freeze(module.eval())
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


def make_inference_step(model, x, execution, device, graph_path, precision="fp32"):
    model.eval()
    if execution == "eager":
        def step():
            with torch.inference_mode(), autocast(precision, device):
                model(x)
        return Step(step, device)

    if device.type == "cuda" and graph_path == "cuda-graph":
        static_x = x.clone()

        def forward():
            with torch.no_grad(), autocast(precision, device, cache_enabled=False):
                model(static_x)

        return CapturedCudaStep(forward, [static_x], [x], device)

    if device.type == "cuda":  # compile-reduce-overhead
        net = torch.compile(model, mode="reduce-overhead")
        compiler = getattr(torch, "compiler", None)
        mark_step = getattr(compiler, "cudagraph_mark_step_begin", None)

        def fn():
            with torch.no_grad(), autocast(precision, device):
                net(x)

        return CompiledCudaStep(fn, device, mark_step)

    net = script_for_inference(model, x, precision)

    def step():
        with torch.no_grad():
            net(x)

    s = Step(step, device)
    s.graph_path = "torchscript-frozen"
    return s


def time_steps(step, warmup, steps, device):
    step.warm(warmup)
    times = []
    for _ in range(steps):
        sync(device)
        t0 = time.perf_counter()
        step.run()
        sync(device)
        times.append(time.perf_counter() - t0)
    return times


def graph_path_of(pt, args, device):
    """The graph path a point starts with (a failing compile path falls back later)."""
    if pt["exec"] != "graph":
        return "-"
    if device.type == "cuda":
        return args.cuda_graph_path
    return "compile" if pt["mode"] == "train" else "torchscript-frozen"


def run_point(pt, args, device, graph_path=None):
    """Returns a result dict; 'oom' True when the point did not fit in memory."""
    graph_path = graph_path or graph_path_of(pt, args, device)
    result = {"time_s": None, "median_s": None, "memory_mb": None,
              "device_total_mb": None, "oom": False, "graph_path": graph_path,
              "cuda_graph": "on" if device.type == "cuda" and graph_path != "-" else "-"}
    oom = False
    failed = None
    model = x = y = step = None
    try:
        model = build_model(pt["model"], args.seed, device)
        x, y = make_inputs(pt["batch"], pt["size"], device)
        if pt["mode"] == "train":
            step = make_train_step(model, x, y, pt["exec"], device, graph_path, pt["precision"])
        else:
            step = make_inference_step(model, x, pt["exec"], device, graph_path,
                                       pt["precision"])
        times = time_steps(step, args.warmup, args.steps, device)
        result["time_s"] = statistics.fmean(times)
        result["median_s"] = statistics.median(times)
        result["cuda_graph"] = step.cuda_graph
        if device.type == "cuda":
            result["memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
            free, total = torch.cuda.mem_get_info(device)
            result["device_total_mb"] = (total - free) / 2**20
    except GraphPathFailed as e:
        failed = str(e)
    except Exception as e:  # noqa: BLE001 - only OOM is swallowed
        if not is_oom(e):
            raise
        oom = True
    # Free outside the except block: the traceback would keep the tensors alive.
    model = x = y = step = None
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if failed is not None:
        # torch.compile could not build this step (no working inductor/triton, an unsupported
        # op, ...): measure PyTorch's other graph path, CUDA-graphed eager, instead.
        log(f"  torch.compile(mode=\"reduce-overhead\") failed ({failed.splitlines()[0][:300]}); "
            f"falling back to CUDA-graphed eager")
        try:
            # importlib, not `import torch._dynamo`: that statement would make `torch` a local
            # name of this whole function (UnboundLocalError on every earlier use).
            importlib.import_module("torch._dynamo").reset()
        except (ImportError, AttributeError):
            pass
        return run_point(pt, args, device, graph_path="cuda-graph")
    result["oom"] = oom
    return result


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
        res["cuda_graph"] or "-",
        res["graph_path"] or "-",
        pt["precision"],
    ])


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
    ap.add_argument("--precision", default="fp32",
                    help="comma list of fp32, bf16, fp16 (default fp32): bf16/fp16 run under "
                         "torch.autocast (fp16: CUDA only, training with a GradScaler)")
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
    ap.add_argument("--torch-graph", choices=["auto", "compile", "cuda-graph"], default="auto",
                    help="CUDA: PyTorch's graph path. compile: torch.compile(mode="
                         "\"reduce-overhead\"); cuda-graph: the whole step captured with "
                         "torch.cuda.graph; auto (default): compile when torch.compile and "
                         "triton are usable, else cuda-graph. A compile that fails falls back "
                         "to cuda-graph. Recorded in the CSV's Graph path column")
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
    args.precisions = comma_list(args.precision)
    if not args.precisions or not set(args.precisions) <= set(PRECISIONS):
        ap.error(f"--precision {args.precision}: expected a comma list of fp32, bf16, fp16")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    return args


def grid(args, device):
    """The points to run, in the study's order (framework, architecture, size, batch), each in
    every precision; fp16 on the CPU is left out (counted in fp16_cpu)."""
    points, skipped, fp16_cpu = [], 0, 0
    for mode in args.modes:
        mode_name = "train" if mode == "train" else f"inference_{'gpu' if device.type == 'cuda' else 'cpu'}"
        for execution in args.execs:
            for model in args.models:
                for size in args.sizes:
                    for batch in args.batches:
                        for precision in args.precisions:
                            if precision == "fp16" and device.type == "cpu":
                                fp16_cpu += 1
                                continue
                            if (mode == "train" and execution == "graph"
                                    and device.type == "cpu" and not has_compile()):
                                skipped += 1
                                continue
                            points.append({"mode": mode, "mode_name": mode_name,
                                           "exec": execution,
                                           "framework": f"pytorch-{execution}", "model": model,
                                           "size": size, "batch": batch,
                                           "precision": precision})
    return points, skipped, fp16_cpu


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
    args.cuda_graph_path = "-"
    if device.type == "cuda" and "graph" in args.execs:
        usable, why = compile_usable()
        if args.torch_graph == "compile" and not has_compile():
            log(f"pytorch_reference.py: --torch-graph compile: {why}")
            return 2
        if args.torch_graph == "compile" or (args.torch_graph == "auto" and usable):
            args.cuda_graph_path = "compile-reduce-overhead"
        else:
            args.cuda_graph_path = "cuda-graph"
            if args.torch_graph == "auto":
                log(f"note: {why}: pytorch-graph on CUDA is CUDA-graphed eager (torch.cuda.graph)")

    points, skipped, fp16_cpu = grid(args, device)
    log(f"torch {torch.__version__}, torchvision {torchvision.__version__}, device {device}, "
        f"{torch.get_num_threads()} threads, {len(points)} points")
    if skipped:
        log(f"note: torch {torch.__version__} has no torch.compile (needs torch >= 2.0): "
            f"skipping {skipped} pytorch-graph train point(s) on the CPU; no rows are written "
            f"for them")
    if fp16_cpu:
        log(f"note: fp16 autocast is not supported on the CPU (torch.autocast(\"cpu\") is "
            f"bfloat16-only on torch 1.13; no fp16 compute in oneDNN here): skipping "
            f"{fp16_cpu} fp16 point(s); no rows are written for them")
    if args.cuda_graph_path != "-":
        log(f"pytorch-graph on CUDA: {args.cuda_graph_path}")

    out = None
    if args.csv:
        out = open(args.csv, "w")
        out.write(HEADER + "\n")
        out.flush()
    failed = 0
    written = 0
    try:
        for i, pt in enumerate(points):
            tag = (f"[{i + 1}/{len(points)}] {pt['framework']} {pt['precision']} {pt['model']} "
                   f"{pt['mode_name']} {pt['size']}x{pt['batch']}")
            try:
                res = run_point(pt, args, device)
            except PointSkipped as e:
                log(f"{tag}: skipped: {e}; no row")
                gc.collect()
                continue
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
                if res["graph_path"] != "-":
                    msg += f" [{res['graph_path']}, CUDA graph {res['cuda_graph']}]"
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
                    "cuda_graph": res["cuda_graph"], "graph_path": res["graph_path"],
                    "precision": pt["precision"],
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
