"""What bench/pytorch_reference.py and bench/ort_reference.py share (standard library only, no
torch, so ort_reference.py runs on cached models without importing it): the study's CSV header,
the model names, number formatting, comma lists and logging."""

import sys

KNOWN_MODELS = (["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                 "vgg16", "vgg16_bn", "mobilenet_v2"] +
                [f"efficientnet_b{i}" for i in range(8)])
NUM_CLASSES = 1000
# Precision (fp32, bf16, fp16) is the last column; readers treat a CSV without it as fp32.
HEADER = (";Framework;Architecture;Input size;Batch size;Mode;GPU index;Time;Memory;Median;"
          "Device total;CUDA graph;Graph path;Precision")
PRECISIONS = ("fp32", "bf16", "fp16")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def fmt_float(v, spec=None):
    """A CSV number: "-" for None, else repr (full precision) or format(v, spec)."""
    if v is None:
        return "-"
    return format(v, spec) if spec else repr(float(v))


def comma_list(text, conv=str):
    return [conv(t.strip()) for t in text.split(",") if t.strip()]
