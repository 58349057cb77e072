"""Exports PyTorch models with torch.onnx.export for duet's import test (onnx_torchvision_import).

    python export_torchvision.py OUT_DIR [--only NAME]...

Writes OUT_DIR/<case>/{model.onnx, input_0.pb, output_0.pb} (ONNX TensorProtos written by
onnx.numpy_helper) for torchvision's resnet18, mobilenet_v2 and efficientnet_b0 and a small
custom model (x.view(x.size(0), -1) with a symbolic batch, adaptive average pooling, hardswish,
hardsigmoid, GELU, a batch norm after a linear layer),
each with seeded random weights and random batch-norm statistics, in eval mode, once at opset 13
with a 1x3x97x113 input and once at opset 17 with 2x3x129x71: odd sizes, so padding and
pooling arithmetic that only works for 224x224 shows. output_0.pb is PyTorch's own output.
"""
import argparse
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torchvision


class Custom(torch.nn.Module):
    """The patterns a hand-written PyTorch model exports that torchvision's do not."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1, groups=2, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.pool = torch.nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = torch.nn.Linear(16, 32)
        self.bn3 = torch.nn.BatchNorm1d(32)             # no conv before it: BatchNormalization
        self.fc2 = torch.nn.Linear(32, 10)

    def forward(self, x):
        x = torch.nn.functional.hardswish(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(x))
        y = y * torch.nn.functional.hardsigmoid(y)      # a gate like squeeze-excitation's
        y = torch.nn.functional.max_pool2d(y, 3, stride=2, padding=1)
        y = self.pool(y)
        y = y.view(y.size(0), -1)  # dynamic batch: Shape -> Gather -> Unsqueeze -> Concat -> Reshape
        y = torch.nn.functional.gelu(self.bn3(self.fc1(y)))  # GELU exported with Erf
        return self.fc2(y)


def make(name):
    if name == "custom":
        return Custom()
    return getattr(torchvision.models, name)(weights=None)


def randomize_bn(model, gen):
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)


def save_tensor(array, path, name):
    onnx.save_tensor(onnx.numpy_helper.from_array(np.ascontiguousarray(array), name), path)


CASES = [(model, opset, shape)
         for model in ["resnet18", "mobilenet_v2", "efficientnet_b0", "custom"]
         for opset, shape in [(13, (1, 3, 97, 113)), (17, (2, 3, 129, 71))]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--only", action="append", default=[])
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    for i, (name, opset, shape) in enumerate(CASES):
        if args.only and name not in args.only:
            continue
        case = f"{name}_opset{opset}_{'x'.join(map(str, shape))}"
        d = os.path.join(args.out, case)
        os.makedirs(d, exist_ok=True)
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        model = make(name)
        with torch.no_grad():
            randomize_bn(model, gen)
        model.eval()
        x = torch.randn(*shape, generator=gen)
        with torch.no_grad():
            y = model(x)
            # The custom model keeps a symbolic batch, so its view() exports as a shape chain.
            dynamic = {"input": {0: "batch"}, "output": {0: "batch"}} if name == "custom" else None
            torch.onnx.export(model, (x,), os.path.join(d, "model.onnx"), opset_version=opset,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes=dynamic)
        onnx.checker.check_model(os.path.join(d, "model.onnx"))
        save_tensor(x.numpy(), os.path.join(d, "input_0.pb"), "input")
        save_tensor(y.numpy(), os.path.join(d, "output_0.pb"), "output")
        print(f"exported {case}: output {tuple(y.shape)}, max |y| {y.abs().max().item():.4g}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
