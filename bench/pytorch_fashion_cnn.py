#!/usr/bin/env python3
"""PyTorch reference for duet's compare_modes and conv benchmark.

Trains the same Fashion-MNIST CNN as duet::models::fashion_cnn (conv 1->32, BN, ReLU,
max-pool, conv 32->64, BN, ReLU, max-pool, linear 3136->128, ReLU, dropout, linear 128->10)
with Adam(1e-3) on random data, and times conv2d forward on ResNet-18 layer shapes at batch
8. Prints one JSON object per line. Threads: --threads (default 2).

    /usr/bin/python3 bench/pytorch_fashion_cnn.py --steps 20 --batches 1,64
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def fashion_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))


def train_step_ms(batch, steps):
    torch.manual_seed(0)
    net = fashion_cnn()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    xs = [torch.randn(batch, 1, 28, 28) for _ in range(steps)]
    ys = [torch.randint(0, 10, (batch,)) for _ in range(steps)]
    times = []
    for x, y in zip(xs, ys):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def conv_gflops(n, c, o, hw, k, stride, reps=20):
    x = torch.randn(n, c, hw, hw)
    w = torch.randn(o, c, k, k)
    pad = k // 2
    out_hw = (hw + 2 * pad - k) // stride + 1
    flops = 2.0 * n * o * out_hw * out_hw * c * k * k
    for _ in range(3):
        F.conv2d(x, w, stride=stride, padding=pad)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        F.conv2d(x, w, stride=stride, padding=pad)
        times.append(time.perf_counter() - t0)
    return flops / statistics.median(times) / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for b in [int(s) for s in args.batches.split(",")]:
        print(json.dumps({"framework": "pytorch-eager", "torch": torch.__version__,
                          "batch_size": b, "step_ms": round(train_step_ms(b, args.steps), 4)}))
    for name, shape in [("layer1_3x3_64to64_56", (8, 64, 64, 56, 3, 1)),
                        ("layer2_3x3s2_64to128_56", (8, 64, 128, 56, 3, 2)),
                        ("layer3_3x3_256to256_14", (8, 256, 256, 14, 3, 1)),
                        ("layer4_3x3_512to512_7", (8, 512, 512, 7, 3, 1))]:
        print(json.dumps({"framework": "pytorch-eager", "conv2d_forward": name,
                          "gflops": round(conv_gflops(*shape), 1)}))


if __name__ == "__main__":
    main()
