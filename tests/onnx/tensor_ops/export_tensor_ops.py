"""Exports PyTorch modules built from tensor math and shape operations with torch.onnx.export for
duet's import test (onnx_tensor_ops_torch; importer: src/onnx/import_{math,shape,reduce,index}_ops.cpp).

    python export_tensor_ops.py OUT_DIR

Writes OUT_DIR/<case>/{model.onnx, input_<i>.pb, output_<i>.pb} (PyTorch's own outputs), each
module at opsets 11, 13 and 17 (axes as attributes before 13, as inputs from 13; Shape start/end
from 15), with a symbolic batch so sizes are read through Shape -> Gather -> ... chains.
"""
import os
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn.functional as F


class Shapes(torch.nn.Module):
    """Views, permutes, cat/split, slicing with steps and flips, pads, expand/repeat."""

    def forward(self, x):                                   # x: (N, 4, 6, 8)
        b = x.size(0)
        y = x.permute(0, 2, 3, 1).reshape(b, -1, 4)        # (N, 48, 4)
        y = torch.cat([y, y * 2.0 - 1.0], dim=-1)          # (N, 48, 8)
        y = y[:, 1:-3:2, :]                                # (N, 22, 8)
        y = torch.flip(y, [2])                             # Slice, step -1
        y = F.pad(y, (1, 2, 0, 1))                         # (N, 23, 11)
        a, c = torch.split(y, [4, 7], dim=2)
        z = a.unsqueeze(1).expand(-1, 3, -1, -1).sum(1)    # (N, 23, 4)
        t = c[:, :2].repeat(1, 2, 1)                       # Tile: (N, 4, 7)
        e = F.pad(x[:, :, :3, :3], (2, 2, 1, 1), mode="reflect") \
            + F.pad(x[:, :, :3, :3], (2, 2, 1, 1), mode="replicate")
        return z.flatten(1), t.transpose(1, 2), e


class Math(torch.nn.Module):
    """Broadcasting arithmetic, comparisons and where, reductions, argmax, cumsum."""

    def forward(self, x):                                   # x: (N, 4, 6, 8)
        m = x.mean(dim=(2, 3), keepdim=True)
        v = ((x - m) ** 2).mean(dim=(2, 3), keepdim=True)
        y = (x - m) / torch.sqrt(v + 1e-5)
        y = torch.where(y > 0.5, y, torch.exp(y) - 1.0)
        y = torch.maximum(y, -y.abs() * 0.5) + torch.minimum(y, torch.zeros_like(y))
        s = y.sum(dim=-1)                                  # ReduceSum (axes input from 13)
        mx = y.amax(dim=1)                                 # ReduceMax
        mn = y.amin(dim=(1, 3))                            # ReduceMin
        am = torch.argmax(y.flatten(2), dim=-1)            # ArgMax, int64
        cs = torch.cumsum(y[:, 0], dim=1)                  # CumSum, constant axis
        nrm = torch.linalg.vector_norm(y, dim=-1)          # ReduceL2 or its composition
        return s, mx, mn, am, cs, nrm, torch.logsumexp(y, dim=2)


class Embed(torch.nn.Module):
    """An embedding lookup (Gather with computed indices), masks and positions."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(50, 8)
        self.pos = torch.nn.Parameter(torch.randn(16, 8))
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, ids):                                 # ids: (N, 5) int64
        n = ids.size(1)
        h = self.emb(ids) + self.pos[:n]                   # Gather, Slice of a constant
        mask = (ids != 0).unsqueeze(-1).to(h.dtype)        # Not/Equal, Cast
        h = self.proj(h) * mask
        pooled = h.sum(1) / mask.sum(1).clamp(min=1.0)
        return pooled, h.transpose(0, 1).reshape(n, -1)


class Upsampling(torch.nn.Module):
    """F.interpolate as torch.onnx writes it: Resize with scales or sizes."""

    def forward(self, x):                                   # x: (N, 4, 6, 8)
        a = F.interpolate(x, scale_factor=2.0, mode="nearest")
        b = F.interpolate(x, size=(12, 16), mode="bilinear", align_corners=False)
        c = F.interpolate(x, size=(9, 5), mode="bilinear", align_corners=True)
        d = F.interpolate(x, scale_factor=(1.5, 2.0), mode="bicubic", align_corners=False)
        return a + b, c, d


CASES = [("shapes", Shapes, lambda g: [torch.randn(2, 4, 6, 8, generator=g)]),
         ("math", Math, lambda g: [torch.randn(3, 4, 6, 8, generator=g)]),
         ("embed", Embed, lambda g: [torch.randint(0, 50, (2, 5), generator=g)]),
         ("upsampling", Upsampling, lambda g: [torch.randn(2, 4, 6, 8, generator=g)])]


def save_tensor(array, path, name):
    onnx.save_tensor(onnx.numpy_helper.from_array(np.ascontiguousarray(array), name), path)


def main():
    out = sys.argv[1]
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    for i, (name, cls, make_inputs) in enumerate(CASES):
        for opset in (11, 13, 17):
            torch.manual_seed(3000 + i)
            gen = torch.Generator().manual_seed(4000 + i)
            model = cls().eval()
            inputs = make_inputs(gen)
            case = f"{name}_opset{opset}"
            d = os.path.join(out, case)
            os.makedirs(d, exist_ok=True)
            with torch.no_grad():
                outs = model(*inputs)
                outs = outs if isinstance(outs, tuple) else (outs,)
                in_names = [f"in{k}" for k in range(len(inputs))]
                out_names = [f"out{k}" for k in range(len(outs))]
                dynamic = {n: {0: "batch"} for n in in_names}
                torch.onnx.export(model, tuple(inputs), os.path.join(d, "model.onnx"),
                                  opset_version=opset, input_names=in_names,
                                  output_names=out_names, dynamic_axes=dynamic)
            onnx.checker.check_model(os.path.join(d, "model.onnx"))
            for k, t in enumerate(inputs):
                save_tensor(t.numpy(), os.path.join(d, f"input_{k}.pb"), in_names[k])
            for k, t in enumerate(outs):
                save_tensor(t.numpy(), os.path.join(d, f"output_{k}.pb"), out_names[k])
            ops = sorted({n.op_type for n in onnx.load(os.path.join(d, "model.onnx")).graph.node})
            print(f"exported {case}: {len(outs)} outputs; operators {' '.join(ops)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
