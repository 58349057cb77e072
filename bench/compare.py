#!/usr/bin/env python3
"""Join benchmark CSVs and summarise each framework's time against a baseline.

Reads any number of CSVs in the study's `;`-separated layout -- written by
duet-bench, by bench/pytorch_reference.py, or the study's own train.csv /
inference_gpu.csv / inference_cpu.csv (frameworks tf1, tf2, pytorch) -- and
prints, per mode (train, inference_cpu, inference_gpu):

  1. a markdown table, one row per (architecture, input size, batch size), one
     column per framework, time in ms ("-" where the point did not run);
  2. the per-point ratio of each framework's time to the baseline's
     (ratio > 1 means the baseline was faster);
  3. the geometric mean of each ratio over the points where both times are
     valid -- the way the study summarised TF vs PyTorch;
  4. for GPU points (mode inference_gpu, or a GPU index in the row), issue #6's
     ratios: duet graph / PyTorch eager, duet graph / PyTorch graph, duet graph
     / duet eager, and peak memory, duet graph / torch.cuda.max_memory_allocated
     of PyTorch eager and of PyTorch graph, with their geometric means.

Below each ratio table: the worst point of each framework (its largest ratio).
With --check FRAMEWORK:GEOMEAN:POINT (e.g. graph:1.0:1.2, issue #17's targets
for duet graph against --baseline onnxruntime), a verdict per mode: whether
FRAMEWORK / baseline has a geometric mean <= GEOMEAN and every point <= POINT.
--stat median compares the CSVs' Median column (step-time medians, steadier on
a busy machine) instead of Time (the means).

Any framework name joins the tables, e.g. bench/ort_reference.py's
`onnxruntime` rows, and any can be the --baseline.

The CSVs' optional "CUDA graph" (on / off / skipped / -) and "Graph path"
columns are read too: a duet `graph` row with CUDA graph "off" becomes the
framework `graph[cuda-graph off]`, so runs with and without capture can be
joined, and the GPU table names PyTorch's graph path.

Architecture names are matched loosely ("mobilenet_v2" == "mobilenetv2",
"efficientnet_b4" == "efficientnetb4"), so the study's CSVs join with ours.

Precision (issue #14): the optional "Precision" column (fp32, bf16, fp16:
duet-bench --precision, pytorch_reference.py --precision; a CSV without it, or
"-", is fp32) is part of a point, so frameworks are compared at the same
precision: bf16 duet against bf16 PyTorch. Tables then get a precision column
and point names a suffix ("resnet50 224x8 bf16"). With more than one precision,
a section "Low precision against fp32" gives each framework's time at bf16/fp16
divided by its own fp32 time at the same point (< 1: faster), with geometric
means (issue #14's "bf16 graph >= 3x faster than duet's fp32 graph" is
`graph` there <= 0.33). --precision bf16 keeps only those points.

Usage:
  bench/compare.py duet.csv pytorch.csv
  bench/compare.py duet.csv pytorch.csv --baseline pytorch-eager --against eager,graph
  bench/compare.py /work/shared/seed-benchmark/train.csv --baseline pytorch
  bench/compare.py *.csv --json                 # only the geomeans, as one JSON object
  bench/compare.py *.csv --markdown report.md   # also write the tables to a file
  bench/compare.py duet_gpu.csv torch_gpu.csv --duet-graph graph[cuda-graph off]
  bench/compare.py inference.csv --baseline onnxruntime --stat median --check graph:1.0:1.2
  bench/compare.py duet.csv pytorch.csv --baseline pytorch-eager --precision bf16

Python standard library only.
"""

import argparse
import csv
import json
import math
import re
import sys

MODE_ORDER = ["train", "inference_gpu", "inference_cpu"]
PRECISIONS = ("fp32", "bf16", "fp16")
DUET_FRAMEWORKS = ("eager", "graph")  # duet-bench's names; a CUDA-graph-off run gets a suffix


def arch_key(name):
    """Loose architecture key: lower case, '_' and '-' dropped."""
    return re.sub(r"[_\-\s]", "", name.strip().lower())


def parse_size(text):
    """'(224, 224, 3)' or '224' -> 224 (the height)."""
    m = re.search(r"\d+", text)
    if not m:
        raise ValueError(f"bad input size {text!r}")
    return int(m.group(0))


def precision_rank(precision):
    return PRECISIONS.index(precision) if precision in PRECISIONS else len(PRECISIONS)


def parse_float(text):
    text = text.strip()
    if text in ("", "-"):
        return None
    value = float(text)
    if math.isnan(value):
        return None
    return value


class Table:
    """All points: times[mode][(arch_key, size, batch, precision)][framework] = seconds or
    None."""

    def __init__(self):
        self.times = {}
        self.arch_names = {}  # arch_key -> first spelling seen
        self.arch_order = []  # arch keys in first-seen order
        self.frameworks = []  # framework names in first-seen order
        # memory[mode][point][framework] = MB or None; extra[mode][point][framework] = dict
        self.memory = {}
        self.extra = {}
        self.gpu_points = {}  # mode -> set of points with a GPU row
        self.precisions = set()  # the precisions seen ("fp32" for CSVs without the column)

    def add(self, framework, arch, size, batch, mode, time_s, source, memory_mb=None,
            gpu=False, cuda_graph="", graph_path="", precision="fp32"):
        key = arch_key(arch)
        self.precisions.add(precision)
        if key not in self.arch_names:
            self.arch_names[key] = arch
            self.arch_order.append(key)
        if framework not in self.frameworks:
            self.frameworks.append(framework)
        p = (key, size, batch, precision)
        point = self.times.setdefault(mode, {}).setdefault(p, {})
        if framework in point and point[framework] != time_s:
            print(f"compare.py: {source}: {framework} {arch} {mode} {size}x{batch} {precision} "
                  f"appears again; using the later value", file=sys.stderr)
        point[framework] = time_s
        self.memory.setdefault(mode, {}).setdefault(p, {})[framework] = memory_mb
        self.extra.setdefault(mode, {}).setdefault(p, {})[framework] = {
            "cuda_graph": cuda_graph, "graph_path": graph_path}
        if gpu or mode == "inference_gpu":
            self.gpu_points.setdefault(mode, set()).add(p)

    def modes(self):
        known = [m for m in MODE_ORDER if m in self.times]
        return known + sorted(m for m in self.times if m not in MODE_ORDER)

    def points(self, mode):
        order = {k: i for i, k in enumerate(self.arch_order)}
        return sorted(self.times[mode], key=lambda p: (order[p[0]], p[1], p[2],
                                                      precision_rank(p[3])))

    def mixed(self):
        """Whether more than fp32 is present: tables then show a precision column."""
        return self.precisions - {"fp32"} != set()


    def frameworks_in(self, mode):
        present = set()
        for fw_times in self.times[mode].values():
            present.update(fw_times)
        return [f for f in self.frameworks if f in present]


def read_csv(path, table, stat="mean", precision_filter=()):
    """stat "mean": times from the Time column; "median": from the Median column.
    precision_filter: keep only rows of these precisions (empty: all)."""
    time_col = "Time" if stat == "mean" else "Median"
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter=";")
        header = next(reader, None)
        if header is None:
            return 0
        cols = {name.strip(): i for i, name in enumerate(header)}
        needed = ["Framework", "Architecture", "Input size", "Batch size", "Mode", time_col]
        missing = [c for c in needed if c not in cols]
        if missing:
            raise SystemExit(f"compare.py: {path}: header lacks column(s) {missing}: {header}")
        n = 0

        def optional(row, name):
            i = cols.get(name)
            if i is None or i >= len(row):
                return ""
            value = row[i].strip()
            return "" if value == "-" else value

        for lineno, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            try:
                framework = row[cols["Framework"]].strip()
                precision = optional(row, "Precision") or "fp32"
                if precision_filter and precision not in precision_filter:
                    continue
                cuda_graph = optional(row, "CUDA graph")
                if framework in DUET_FRAMEWORKS and cuda_graph == "off":
                    framework += "[cuda-graph off]"
                memory = optional(row, "Memory")
                table.add(framework=framework,
                          arch=row[cols["Architecture"]].strip(),
                          size=parse_size(row[cols["Input size"]]),
                          batch=int(row[cols["Batch size"]]),
                          mode=row[cols["Mode"]].strip(),
                          time_s=parse_float(row[cols[time_col]]),
                          source=f"{path}:{lineno}",
                          memory_mb=parse_float(memory) if memory else None,
                          gpu=optional(row, "GPU index") != "",
                          cuda_graph=cuda_graph,
                          graph_path=optional(row, "Graph path"),
                          precision=precision)
            except (IndexError, ValueError) as e:
                raise SystemExit(f"compare.py: {path}:{lineno}: cannot parse {row}: {e}")
            n += 1
        return n


def fmt_ms(seconds):
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}"


def geomean(values):
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def point_name(table, p):
    key, size, batch, precision = p
    name = f"{table.arch_names[key]} {size}x{batch}"
    return name if precision == "fp32" else f"{name} {precision}"


def point_cells(table, p):
    """The leading cells of a table row: architecture, size, batch (and precision)."""
    key, size, batch, precision = p
    cells = [table.arch_names[key], str(size), str(batch)]
    return cells + [precision] if table.mixed() else cells


def point_header(table):
    return ["architecture", "size", "batch"] + (["precision"] if table.mixed() else [])


def blank_cells(table, first):
    return [first] + [""] * (len(point_header(table)) - 1)


def check_targets(framework, baseline, ratios, geomean_max, point_max):
    """One verdict line and a dict for --check: ratios is [(ratio, point name)]."""
    gm = geomean([r for r, _ in ratios])
    over = sorted((x for x in ratios if x[0] > point_max), reverse=True)
    gm_ok = gm is not None and gm <= geomean_max
    pts_ok = bool(ratios) and not over
    text = (f"Targets, `{framework}/{baseline}`: geomean {fmt_ratio(gm)} <= {geomean_max:g}: "
            f"{'met' if gm_ok else 'NOT met'}; every point <= {point_max:g}: "
            f"{'met' if pts_ok else 'NOT met'}")
    if over:
        text += " (above: " + ", ".join(f"{n} {r:.2f}" for r, n in over) + ")"
    if not ratios:
        text += " (no valid points)"
    return text + ".\n", {"framework": framework, "geomean_max": geomean_max,
                          "point_max": point_max, "geomean_met": gm_ok, "points_met": pts_ok,
                          "met": gm_ok and pts_ok, "over": [[n, r] for r, n in over]}


def summarise(table, baseline, against, modes_filter, checks=()):
    """Returns (markdown text, {mode: {framework: {"geomean", "points", "worst",
    "worst_point"}}}, {mode: [verdict]}); checks: [(framework, geomean max, point max)]."""
    out = []
    summary = {}
    verdicts = {}
    for mode in table.modes():
        if modes_filter and mode not in modes_filter:
            continue
        fws = table.frameworks_in(mode)
        points = table.points(mode)
        out.append(f"## {mode}\n")
        out.append(f"Time per step in ms ({len(points)} points).\n")
        rows = []
        for p in points:
            rows.append(point_cells(table, p) + [fmt_ms(table.times[mode][p].get(f)) for f in fws])
        out.append(markdown_table(point_header(table) + fws, rows) + "\n")

        if baseline not in fws:
            out.append(f"No `{baseline}` rows in this mode: no ratios.\n")
            continue
        others = [f for f in (against or fws) if f != baseline and f in fws]
        if not others:
            out.append(f"Nothing to compare against `{baseline}`.\n")
            continue
        ratios = {f: [] for f in others}
        named = {f: [] for f in others}  # [(ratio, point name)]
        rows = []
        for p in points:
            t = table.times[mode][p]
            base = t.get(baseline)
            cells = []
            for f in others:
                r = None
                if base is not None and base > 0 and t.get(f) is not None:
                    r = t[f] / base
                    ratios[f].append(r)
                    named[f].append((r, point_name(table, p)))
                cells.append(fmt_ratio(r))
            rows.append(point_cells(table, p) + cells)
        gm = {f: geomean(ratios[f]) for f in others}
        rows.append(blank_cells(table, "**geomean**") + [f"**{fmt_ratio(gm[f])}**" for f in others])
        worst = {f: max(named[f]) if named[f] else (None, "-") for f in others}
        rows.append(blank_cells(table, "**worst**") + [fmt_ratio(worst[f][0]) for f in others])
        rows.append(blank_cells(table, "valid points") + [str(len(ratios[f])) for f in others])
        out.append(f"Time relative to `{baseline}` (> 1: `{baseline}` was faster).\n")
        out.append(markdown_table(point_header(table) +
                                  [f"{f}/{baseline}" for f in others], rows) + "\n")
        summary[mode] = {f: {"geomean": gm[f], "points": len(ratios[f]), "worst": worst[f][0],
                             "worst_point": worst[f][1]} for f in others}
        out.append("Geometric means: " + ", ".join(
            f"{f}/{baseline} {fmt_ratio(gm[f])} ({len(ratios[f])} points)" for f in others) + "\n")
        out.append("Worst points: " + ", ".join(
            f"{f}/{baseline} {fmt_ratio(worst[f][0])} ({worst[f][1]})" for f in others) + "\n")
        for framework, gm_max, pt_max in checks:
            if framework not in others:
                out.append(f"Targets, `{framework}/{baseline}`: no `{framework}` rows.\n")
                verdicts.setdefault(mode, []).append(
                    {"framework": framework, "met": False, "missing": True})
                continue
            text, verdict = check_targets(framework, baseline, named[framework], gm_max, pt_max)
            out.append(text)
            verdicts.setdefault(mode, []).append(verdict)
    return "\n".join(out), summary, verdicts


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


def gpu_summary(table, duet_graph, modes_filter):
    """Issue #6's GPU ratios. Returns (markdown text, {mode: {ratio name: geomean/points}})."""
    out = []
    summary = {}
    columns = [  # (name, numerator, denominator, memory?)
        ("graph/torch-eager", duet_graph, "pytorch-eager", False),
        ("graph/torch-graph", duet_graph, "pytorch-graph", False),
        ("graph/duet-eager", duet_graph, "eager", False),
        ("mem graph/torch-eager", duet_graph, "pytorch-eager", True),
        ("mem graph/torch-graph", duet_graph, "pytorch-graph", True),
    ]
    for mode in table.modes():
        if modes_filter and mode not in modes_filter:
            continue
        points = [p for p in table.points(mode) if p in table.gpu_points.get(mode, set())]
        if not points or not any(duet_graph in table.times[mode][p] for p in points):
            continue
        values = {name: [] for name, *_ in columns}
        rows = []
        for p in points:
            t, m, x = table.times[mode][p], table.memory[mode][p], table.extra[mode][p]
            cells = []
            for name, num, den, is_mem in columns:
                src = m if is_mem else t
                r = ratio(src.get(num), src.get(den))
                if r is not None:
                    values[name].append(r)
                cells.append(fmt_ratio(r))
            cg = x.get(duet_graph, {}).get("cuda_graph") or "-"
            tg = x.get("pytorch-graph", {})
            torch_path = tg.get("graph_path") or "-"
            if tg.get("cuda_graph") == "skipped":
                torch_path += " (CUDA graph skipped)"
            rows.append(point_cells(table, p) + [
                         fmt_ms(t.get(duet_graph)), fmt_ms(t.get("eager")),
                         fmt_ms(t.get("pytorch-eager")), fmt_ms(t.get("pytorch-graph"))] +
                        cells + [fmt_mb(m.get(duet_graph)), fmt_mb(m.get("pytorch-eager")), cg,
                                 torch_path])
        gm = {name: geomean(v) for name, v in values.items()}
        rows.append(blank_cells(table, "**geomean**") + ["", "", "", ""] +
                    [f"**{fmt_ratio(gm[name])}**" for name, *_ in columns] + ["", "", "", ""])
        rows.append(blank_cells(table, "valid points") + ["", "", "", ""] +
                    [str(len(values[name])) for name, *_ in columns] + ["", "", "", ""])
        out.append(f"## GPU, {mode}: duet `{duet_graph}` against PyTorch and duet eager\n")
        out.append("Times in ms; ratios < 1: duet graph is faster (or smaller). Memory: peak "
                   "allocator MB (duet) / torch.cuda.max_memory_allocated.\n")
        out.append(markdown_table(
            point_header(table) + ["duet graph", "duet eager", "torch eager",
                                   "torch graph"] + [name for name, *_ in columns] +
            ["duet graph MB", "torch eager MB", "duet cuda graph", "torch graph path"],
            rows) + "\n")
        summary[mode] = {name: {"geomean": gm[name], "points": len(values[name])}
                         for name, *_ in columns}
    return "\n".join(out), summary


def precision_summary(table, modes_filter):
    """Each framework's time at bf16 / fp16 over its own fp32 time at the same (architecture,
    size, batch). Returns (markdown text, {mode: {"<framework> <precision>/fp32": {"geomean",
    "points"}}})."""
    out = []
    summary = {}
    lows = [p for p in PRECISIONS[1:] if p in table.precisions]
    lows += sorted(table.precisions - set(PRECISIONS))
    if "fp32" not in table.precisions or not lows:
        return "", summary
    for mode in table.modes():
        if modes_filter and mode not in modes_filter:
            continue
        fws = table.frameworks_in(mode)
        times = table.times[mode]
        base_points = [p for p in table.points(mode) if p[3] == "fp32"]
        columns = [(f, low) for low in lows for f in fws
                   if any((p[0], p[1], p[2], low) in times and f in times[(p[0], p[1], p[2], low)]
                          and f in times[p] for p in base_points)]
        if not columns:
            continue
        values = {c: [] for c in columns}
        rows = []
        for p in base_points:
            cells = []
            for f, low in columns:
                lp = (p[0], p[1], p[2], low)
                r = ratio(times.get(lp, {}).get(f), times[p].get(f))
                if r is not None:
                    values[(f, low)].append(r)
                cells.append(fmt_ratio(r))
            if any(c != "-" for c in cells):
                key, size, batch, _ = p
                rows.append([table.arch_names[key], str(size), str(batch)] + cells)
        gm = {c: geomean(v) for c, v in values.items()}
        rows.append(["**geomean**", "", ""] + [f"**{fmt_ratio(gm[c])}**" for c in columns])
        rows.append(["valid points", "", ""] + [str(len(values[c])) for c in columns])
        out.append(f"## Low precision against fp32, {mode}\n")
        out.append("Each framework's time at the low precision divided by its own fp32 time at "
                   "the same point (< 1: faster; 0.33 is 3x).\n")
        out.append(markdown_table(["architecture", "size", "batch"] +
                                  [f"{f} {low}/fp32" for f, low in columns], rows) + "\n")
        summary[mode] = {f"{f} {low}/fp32": {"geomean": gm[(f, low)],
                                             "points": len(values[(f, low)])}
                         for f, low in columns}
    return "\n".join(out), summary


def fmt_mb(mb):
    return "-" if mb is None else f"{mb:.0f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[1:]))
    ap.add_argument("csv", nargs="+", help="CSV files (study layout, ';'-separated)")
    ap.add_argument("--baseline", default="pytorch-eager",
                    help="framework the others are divided by (default: pytorch-eager)")
    ap.add_argument("--against", default="",
                    help="comma list of frameworks to compare (default: all others)")
    ap.add_argument("--modes", default="", help="comma list of modes to report (default: all)")
    ap.add_argument("--duet-graph", default="graph",
                    help="the duet graph framework of the GPU ratio table (default: graph; "
                         "graph[cuda-graph off] for a run with --cuda-graph off)")
    ap.add_argument("--precision", default="",
                    help="comma list of precisions to keep (fp32, bf16, fp16; default: all; a "
                         "CSV without a Precision column is fp32)")
    ap.add_argument("--stat", choices=["mean", "median"], default="mean",
                    help="compare the CSVs' Time (mean, default) or Median column")
    ap.add_argument("--check", action="append", default=[], metavar="FW:GEOMEAN:POINT",
                    help="say whether FW / baseline has geomean <= GEOMEAN and every point "
                         "<= POINT (e.g. graph:1.0:1.2); repeatable")
    ap.add_argument("--json", action="store_true",
                    help="print only the geometric means, as one JSON object")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables to FILE")
    args = ap.parse_args(argv)

    checks = []
    for spec in args.check:
        parts = spec.split(":")
        try:
            if len(parts) != 3 or not parts[0]:
                raise ValueError
            checks.append((parts[0], float(parts[1]), float(parts[2])))
        except ValueError:
            ap.error(f"--check {spec!r}: expected FRAMEWORK:GEOMEAN:POINT, e.g. graph:1.0:1.2")
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        ap.error(f"--precision {','.join(bad)}: expected fp32, bf16 or fp16")
    table = Table()
    for path in args.csv:
        try:
            read_csv(path, table, args.stat, precisions)
        except OSError as e:
            raise SystemExit(f"compare.py: {e}")
    against = [f.strip() for f in args.against.split(",") if f.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    text, summary, verdicts = summarise(table, args.baseline, against, modes, checks)
    if args.stat == "median":
        text = "Times are the medians of the steps (the CSVs' Median column).\n\n" + text
    gpu_text, gpu = gpu_summary(table, args.duet_graph, modes)
    if gpu_text:
        text += "\n" + gpu_text
    low_text, low = precision_summary(table, modes)
    if low_text:
        text += "\n" + low_text

    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if args.json:
        result = {"baseline": args.baseline, "stat": args.stat, "geomeans": summary}
        if gpu:
            result["gpu"] = gpu
        if low:
            result["precision"] = low
        if checks:
            result["checks"] = verdicts
        print(json.dumps(result))
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
