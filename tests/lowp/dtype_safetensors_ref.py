#!/usr/bin/python3
# Prints the reference safetensors file of dtype_safetensors_test.cpp, made with PyTorch
# (torch 1.13 rounds float32 -> float16 / bfloat16; no safetensors package needed: the format
# is an 8-byte little-endian header length, the JSON header padded with spaces to a multiple
# of 8, then the raw little-endian tensor bytes):
#   /usr/bin/python3 tests/lowp/dtype_safetensors_ref.py
import json
import struct

import torch

# float32 inputs as bits (exact): 1, -2.5, 0.1, 65504, 65520 (fp16: inf), 1e-7 (fp16
# subnormal), pi, 1 + 2^-8 (bf16 tie, even below), 1 + 3 * 2^-8 (bf16 tie, even above),
# -inf, NaN, 3e38 (fp16 inf; bf16 finite).
BITS = [0x3F800000, 0xC0200000, 0x3DCCCCCD, 0x477FE000, 0x477FF000, 0x33D6BF95, 0x40490FDB,
        0x3F808000, 0x3F818000, 0xFF800000, 0x7FC00000, 0x7EE1D1D3]
x = torch.tensor(BITS, dtype=torch.int64).to(torch.int32).view(torch.float32).reshape(3, 4)
tensors = [("h", x.to(torch.float16)), ("b", x.to(torch.bfloat16)), ("f", x[0])]
name = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}
header, data = {}, b""
for key, t in tensors:
    raw = t.contiguous().view(torch.uint8).numpy().tobytes()
    header[key] = {"dtype": name[t.dtype], "shape": list(t.shape),
                   "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw
h = json.dumps(header, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
blob = struct.pack("<Q", len(h)) + h + data
print(f"// torch {torch.__version__}: {len(blob)} bytes")
print("const unsigned char kTorchFile[] = {")
for i in range(0, len(blob), 16):
    print("    " + ", ".join(f"0x{c:02x}" for c in blob[i:i + 16]) + ",")
print("};")
