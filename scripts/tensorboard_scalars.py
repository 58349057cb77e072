"""Prints the scalars of TensorBoard event files, read with TensorBoard's EventAccumulator: one
table per run (each directory under DIR holding event files), one row per step; PREFIX keeps
the tags that start with it (e.g. epoch_).

    $(bash scripts/python_venv.sh | tail -1) scripts/tensorboard_scalars.py runs/fashion [PREFIX]
    # run validation
    # step  epoch_accuracy  epoch_loss
    #    0          0.8563      0.3978
    # ...
"""
import os
import sys

from tensorboard.backend.event_processing import event_accumulator as ea


def runs(root):
    for d, _, files in sorted(os.walk(root)):
        if any(".tfevents." in f for f in files):
            yield d


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        return 2
    root = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) == 3 else ""
    found = False
    for d in runs(root):
        found = True
        acc = ea.EventAccumulator(d, size_guidance={ea.SCALARS: 0})
        acc.Reload()
        tags = sorted(t for t in acc.Tags()["scalars"] if t.startswith(prefix))
        if not tags:
            continue
        table = {}
        for t in tags:
            for e in acc.Scalars(t):
                table.setdefault(e.step, {})[t] = e.value
        print(f"# run {os.path.relpath(d, root)}")
        print("step  " + "  ".join(f"{t:>14}" for t in tags))
        for step in sorted(table):
            row = table[step]
            print(f"{step:4d}  " + "  ".join(
                f"{row[t]:14.6g}" if t in row else " " * 14 for t in tags))
    if not found:
        print(f"no event files under {root}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
