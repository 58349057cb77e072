"""Exports torchvision's resnet50 and mobilenet_v2 (seeded random weights, eval mode, fixed
input shape, opset 17) for bench/onnx/run_bench.sh.

    python export_bench_models.py OUT_DIR [--batch 1 --batch 8]

Writes OUT_DIR/<model>_b<N>.onnx for input (N, 3, 224, 224); skips files that exist.
"""
import argparse
import os
import sys
import warnings

import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--model", action="append")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    os.makedirs(args.out, exist_ok=True)
    for name in args.model or ["resnet50", "mobilenet_v2"]:
        for batch in args.batch or [1, 8]:
            path = os.path.join(args.out, f"{name}_b{batch}.onnx")
            if os.path.exists(path):
                continue
            torch.manual_seed(0)
            model = getattr(torchvision.models, name)(weights=None).eval()
            x = torch.randn(batch, 3, 224, 224)
            with torch.no_grad():
                torch.onnx.export(model, (x,), path + ".tmp", opset_version=17,
                                  input_names=["input"], output_names=["output"])
            os.replace(path + ".tmp", path)
            print(f"exported {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
