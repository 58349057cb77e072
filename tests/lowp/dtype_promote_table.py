#!/usr/bin/python3
# Prints the kPromote table of dtype_promote_test.cpp from PyTorch (torch.promote_types):
#   /usr/bin/python3 tests/lowp/dtype_promote_table.py   (torch 1.13 was used)
import torch

# duet's DType order (include/duet/dtype.h).
names = ["float32", "float64", "int64", "bool_", "float16", "bfloat16"]
torch_of = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64,
            "bool_": torch.bool, "float16": torch.float16, "bfloat16": torch.bfloat16}
name_of = {v: k for k, v in torch_of.items()}
print(f"// torch {torch.__version__}: torch.promote_types(row, column)")
print("constexpr DType kPromote[6][6] = {")
for a in names:
    row = [name_of[torch.promote_types(torch_of[a], torch_of[b])] for b in names]
    print("    {" + ", ".join(row) + "},  // " + a)
print("};")
