#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_safetensors and fuzz_idx (small valid files) into
fuzz/corpus/<target>/. fuzz_ops writes its own (one per op, sample and mode):
    DUET_FUZZ_MAKE_SEEDS=fuzz/corpus/fuzz_ops build-fuzz/fuzz/fuzz_ops -runs=1

    python3 fuzz/make_seeds.py
"""
import json
import os
import struct
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True):
    """tensors: [(name, dtype, shape, raw bytes)]"""
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def make_safetensors():
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    write("fuzz_safetensors", "one_f32", safetensors([("w", "F32", [2, 2], f32(1, 2, 3, 4))]))
    write("fuzz_safetensors", "metadata", safetensors(
        [("b", "F32", [3], f32(0.5, -1, 2))], {"format": "pt", "note": "seed"}))
    write("fuzz_safetensors", "all_dtypes", safetensors([
        ("a", "F32", [2], f32(1, 2)),
        ("b", "F64", [1, 2], struct.pack("<2d", 1.5, -2.5)),
        ("c", "I64", [2], struct.pack("<2q", 7, -7)),
        ("d", "BOOL", [3], b"\x01\x00\x01"),
        ("e", "F16", [2], struct.pack("<2e", 1.0, -0.5)),
        ("f", "BF16", [2], b"\x80\x3f\x00\xc0"),
    ]))
    write("fuzz_safetensors", "scalar_and_empty", safetensors(
        [("s", "F32", [], f32(3)), ("z", "F32", [0, 4], b"")]))
    write("fuzz_safetensors", "unpadded", safetensors([("w", "F32", [1], f32(1))], pad=False))
    write("fuzz_safetensors", "nested_names", safetensors([
        ("layer.0.weight", "F32", [2, 3], f32(*range(6))),
        ("layer.0.bias", "F32", [2], f32(0, 1))], {"format": "pt"}))
    write("fuzz_safetensors", "empty_header", safetensors([]))
    # F16 / BF16 load as float16 / bfloat16: edge bit patterns (zeros, subnormals, max, inf,
    # NaN), a 2-D and a scalar tensor, and an empty one between them.
    u16 = lambda *v: struct.pack("<%dH" % len(v), *v)
    write("fuzz_safetensors", "half_edges", safetensors([
        ("h", "F16", [3, 4], u16(0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x3C00, 0x7BFF, 0xFBFF,
                                 0x7C00, 0xFC00, 0x7E00, 0x7C01)),
        ("z", "BF16", [0, 2], b""),
        ("b", "BF16", [2, 3], u16(0x3F80, 0x0001, 0x7F7F, 0x7F80, 0x7FC0, 0xFF81)),
        ("s", "F16", [], u16(0x3555)),
    ], {"format": "pt"}))
    write("fuzz_safetensors", "bf16_weights", safetensors([
        ("fc.weight", "BF16", [2, 4], u16(*[0x3F80 + 0x40 * i for i in range(8)])),
        ("fc.bias", "F32", [2], f32(0.25, -0.25)),
        ("norm.weight", "F16", [4], u16(0x3C00, 0x3800, 0x3400, 0x3000))], {"format": "pt"}))


def idx(type_code, shape, raw):
    return struct.pack(">BBBB", 0, 0, type_code, len(shape)) + \
        b"".join(struct.pack(">I", d) for d in shape) + raw


def make_idx():
    # byte 0: mode (0 raw, 1 gzip, 2 gzip corrupted, 3 raw deflate) | level << 2;
    # byte 1: options (dtype | (rank + 1) << 2 | scale << 5); byte 2: the corruption.
    files = {
        "u8_labels": (idx(0x08, [5], bytes([0, 1, 2, 9, 255])), 0),
        "u8_images": (idx(0x08, [2, 2, 3], bytes(range(12))), 1 | (4 << 2) | (1 << 5)),
        "i8": (idx(0x09, [4], bytes([0x80, 0xff, 0, 0x7f])), 0),
        "i16": (idx(0x0B, [2, 2], struct.pack(">4h", -1, 2, -300, 32767)), 0),
        "i32": (idx(0x0C, [3], struct.pack(">3i", -1, 70000, 5)), 0),
        "f32": (idx(0x0D, [2, 3], struct.pack(">6f", *range(6))), 1 | (3 << 2)),
        "f64": (idx(0x0E, [1, 1, 2], struct.pack(">2d", 0.25, -8)), 2 | (4 << 2)),
        "empty": (idx(0x08, [0, 28], b""), 0),
    }
    for name, (payload, opts) in files.items():
        for mode, mname in [(0, "raw"), (1, "gzip"), (2, "gzip_cut"), (3, "deflate")]:
            level = 1 if mode != 3 else 0
            corrupt = 0x80 | 3 if mode == 2 else 0
            body = payload
            if mode == 3:  # the harness adds a gzip header: deflate data + CRC-32 + length
                c = zlib.compressobj(6, zlib.DEFLATED, -15)
                body = c.compress(payload) + c.flush() + struct.pack(
                    "<II", zlib.crc32(payload), len(payload))
            write("fuzz_idx", name + "_" + mname,
                  bytes([mode | (level << 2), opts, corrupt]) + body)


if __name__ == "__main__":
    make_safetensors()
    make_idx()
