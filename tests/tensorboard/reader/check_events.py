"""Reads the event files of tensorboard_write_events back with TensorBoard's own reader
(tensorboard.backend.event_processing.event_accumulator) and checks every value.

    python check_events.py DIR      # exit 0 and "N passed, 0 failed" when all hold

Histograms are compared with torch.utils.tensorboard's make_histogram over the same values
and default bins when it runs (a numpy replica of it otherwise); images are decoded
with Pillow and compared with torch.utils.tensorboard's float -> uint8 conversion.
"""
import glob
import io
import os
import struct
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.util import tensor_util

DIR = sys.argv[1]
passed = 0
failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def accumulator(path):
    acc = ea.EventAccumulator(path, size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0,
                                                   ea.IMAGES: 0, ea.TENSORS: 0,
                                                   ea.COMPRESSED_HISTOGRAMS: 0})
    acc.Reload()
    return acc


def raw(name, shape=None):
    v = np.fromfile(os.path.join(DIR, "raw", name), dtype=np.float32)
    return v.reshape(shape) if shape else v


def default_bins():  # torch.utils.tensorboard.writer.SummaryWriter.default_bins
    v, buckets, neg = 1e-12, [], []
    while v < 1e20:
        buckets.append(v)
        neg.append(-v)
        v *= 1.1
    return neg[::-1] + [0] + buckets


def expected_histogram(values):
    values = values.astype(float)
    try:
        from torch.utils.tensorboard.summary import make_histogram
        h = make_histogram(values, default_bins())
        return h.min, h.max, h.num, h.sum, h.sum_squares, list(h.bucket_limit), list(h.bucket)
    except (ImportError, TypeError):
        # No torch, or torch 1.13's make_histogram under numpy >= 1.24 (np.greater(...,
        # dtype=np.int32) no longer has a loop): the same steps, line for line.
        counts, limits = np.histogram(values, bins=default_bins())
        cum = np.cumsum(np.greater(counts, 0).astype(np.int32))
        start, end = np.searchsorted(cum, [0, cum[-1] - 1], side="right")
        start, end = int(start), int(end) + 1
        counts = counts[start - 1:end] if start > 0 else np.concatenate([[0], counts[:end]])
        limits = limits[start:end + 1]
        return (values.min(), values.max(), len(values), values.sum(), values.dot(values),
                limits.tolist(), counts.tolist())


def check_histogram(h, values, what):
    emin, emax, enum, esum, esq, elimits, ecounts = expected_histogram(values)
    check(h.min == emin and h.max == emax and h.num == enum, what + ": min/max/num")
    check(abs(h.sum - esum) <= 1e-9 * max(1.0, abs(esum)) + 1e-9 * np.abs(values).sum(),
          what + f": sum {h.sum} vs {esum}")
    check(abs(h.sum_squares - esq) <= 1e-9 * esq, what + f": sum_squares {h.sum_squares} vs {esq}")
    check(list(h.bucket_limit) == elimits, what + ": bucket_limit")
    check(list(h.bucket) == [float(c) for c in ecounts], what + ": bucket counts")


def check_records(path):
    """TFRecord framing, checked independently of EventAccumulator (which checks CRCs too)."""
    data = open(path, "rb").read()
    pos, n = 0, 0
    ok = True
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        ok &= len_crc == masked_crc32c(data[pos:pos + 8]) and body_crc == masked_crc32c(body)
        pos += 16 + length
        n += 1
    check(ok and pos == len(data), f"{path}: {n} records with valid masked CRC-32C")


def only_file(d):
    files = glob.glob(os.path.join(d, "events.out.tfevents.*"))
    check(len(files) == 1, f"{d}: one event file, found {files}")
    return files[0]


# ---- SummaryWriter ------------------------------------------------------------------------
wdir = os.path.join(DIR, "writer")
check_records(only_file(wdir))
acc = accumulator(wdir)
tags = acc.Tags()
check(acc.file_version == 2.0, f"file_version {acc.file_version}")  # parsed "brain.Event:2"
check(sorted(tags["scalars"]) == ["loss/train", "lr"], f"scalar tags {tags['scalars']}")
loss = acc.Scalars("loss/train")
check([e.step for e in loss] == list(range(10)), "loss/train steps")
check([e.value for e in loss] == [float(np.float32(1.0 / (s + 1))) for s in range(10)],
      "loss/train values")
check(acc.Scalars("lr")[0].value == float(np.float32(0.001)), "lr value")

check(sorted(tags["histograms"]) == ["weights/normal", "weights/wide"],
      f"histogram tags {tags['histograms']}")
for tag, name, step in [("weights/normal", "normal.f32", 3), ("weights/wide", "wide.f32", 4)]:
    events = acc.Histograms(tag)
    check(len(events) == 1 and events[0].step == step, tag + ": one event at step")
    check_histogram(events[0].histogram_value, raw(name), tag)

check(sorted(tags["images"]) == ["samples/gray", "samples/rgb"], f"image tags {tags['images']}")
for tag, name, shape, step in [("samples/rgb", "rgb.f32", (3, 5, 7), 1),
                               ("samples/gray", "gray.f32", (1, 4, 6), 2)]:
    events = acc.Images(tag)
    check(len(events) == 1 and events[0].step == step, tag + ": one event at step")
    img = events[0]
    c, h, w = shape
    check(img.width == w and img.height == h, f"{tag}: {img.width} x {img.height}")
    pixels = np.array(Image.open(io.BytesIO(img.encoded_image_string)))
    # torch.utils.tensorboard.summary.make_image: float32 * 255, clip, astype(uint8)
    expected = (raw(name, shape).astype(np.float32) * 255).clip(0, 255).astype(np.uint8)
    expected = expected.transpose(1, 2, 0)
    if c == 1:
        expected = expected[:, :, 0]
    check(pixels.shape == expected.shape and (pixels == expected).all(),
          f"{tag}: decoded pixels {pixels.shape} equal the source")

text_tag = "config/text_summary"
check(text_tag in tags["tensors"], f"tensor tags {tags['tensors']}")
check(acc.SummaryMetadata(text_tag).plugin_data.plugin_name == "text", "text plugin metadata")
text = tensor_util.make_ndarray(acc.Tensors(text_tag)[0].tensor_proto)
check(text.shape == (1,) and text[0] == b"lr=0.001, **batch** 64", f"text {text!r}")

graph = acc.Graph()
ops = {n.name: n.op for n in graph.node}
check({"input/input", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"} <= set(ops),
      f"graph nodes {sorted(ops)}")
check(list(ops.values()).count("relu") == 1, "graph: one relu")
check(all(i.split(":")[0] in ops for n in graph.node for i in n.input), "graph: inputs resolve")

# What TensorBoard's web app reads (its plugin accumulator migrates each value to its plugin):
# every tag lands in the plugin that shows it, and the graph is found.
pacc = pea.EventAccumulator(wdir, size_guidance={pea.TENSORS: 0})
pacc.Reload()
for plugin, expected in [("scalars", ["loss/train", "lr"]),
                         ("histograms", ["weights/normal", "weights/wide"]),
                         ("images", ["samples/gray", "samples/rgb"]), ("text", [text_tag])]:
    got = sorted(pacc.PluginTagToContent(plugin))
    check(got == expected, f"plugin {plugin}: tags {got}")
check(pacc.Tags()["graph"] and len(pacc.Graph().node) == len(graph.node), "plugin: the graph")

# ---- the TensorBoard callback --------------------------------------------------------------
tdir, vdir = os.path.join(DIR, "fit", "train"), os.path.join(DIR, "fit", "validation")
check_records(only_file(tdir))
check_records(only_file(vdir))
train, val = accumulator(tdir), accumulator(vdir)
ts = train.Tags()["scalars"]
check(sorted(ts) == ["batch_loss", "batch_lr", "epoch_accuracy", "epoch_loss", "epoch_lr"],
      f"train scalar tags {ts}")
check([(e.step, e.value) for e in train.Scalars("epoch_loss")] == [(0, 1.0), (1, 0.5)],
      "epoch_loss")
check([(e.step, e.value) for e in train.Scalars("epoch_accuracy")] == [(0, 0.5), (1, 0.75)],
      "epoch_accuracy")
check([e.step for e in train.Scalars("batch_loss")] == [2, 4, 6], "batch_loss every 2 steps")
check([e.value for e in train.Scalars("batch_loss")] == [2.5, 4.5, 6.5], "batch_loss values")
check([(e.step, e.value) for e in val.Scalars("epoch_loss")] == [(0, 2.0), (1, 1.0)],
      "validation epoch_loss")
check([(e.step, round(e.value, 6)) for e in val.Scalars("epoch_accuracy")] ==
      [(0, 0.4), (1, 0.65)], "validation epoch_accuracy")
params = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
check(sorted(train.Tags()["histograms"]) ==
      sorted(["weights/" + p for p in params] + ["gradients/" + p for p in params]),
      f"callback histogram tags {train.Tags()['histograms']}")
for p in params:
    events = train.Histograms("weights/" + p)
    check([e.step for e in events] == [0, 1], p + ": weight histograms at epochs 0 and 1")
    for e in events:
        check_histogram(e.histogram_value, raw(f"epoch{e.step}_{p}.f32"), f"weights/{p}@{e.step}")
    g = train.Histograms("gradients/" + p)
    check([e.step for e in g] == [0, 1] and all(e.histogram_value.num > 0 for e in g),
          p + ": gradient histograms")

# ---- the callback in fit -------------------------------------------------------------------
history = {}
for line in open(os.path.join(DIR, "raw", "history.txt")):
    epoch, name, value = line.split()
    history.setdefault(name, []).append((int(epoch), float(np.float32(float(value)))))
check(sorted(history) == ["accuracy", "loss", "lr", "val_accuracy", "val_loss"],
      f"fit history keys {sorted(history)}")
ftrain = accumulator(os.path.join(DIR, "fit_real", "train"))
fval = accumulator(os.path.join(DIR, "fit_real", "validation"))
for name, points in history.items():
    is_val = name.startswith("val_")
    acc_, tag = (fval, "epoch_" + name[4:]) if is_val else (ftrain, "epoch_" + name)
    got = [(e.step, e.value) for e in acc_.Scalars(tag)]
    check(got == points, f"fit: {tag} {got} == history {name} {points}")
check(sorted(ftrain.Tags()["histograms"]) == sorted(["weights/" + p for p in params] +
                                                    ["gradients/" + p for p in params]),
      f"fit: histogram tags {ftrain.Tags()['histograms']}")

print(f"tensorboard_reader: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
