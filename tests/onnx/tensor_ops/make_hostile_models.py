"""Random one-node ONNX models of the importer's tensor-math and shape operators (part C:
src/onnx/import_{math,shape,reduce,index,resize}_ops.cpp) with hostile attribute and constant-input
values (INT64_MIN/MAX, negative, empty, NaN, inf), wrong element types and odd shapes.

    python make_hostile_models.py OUT_DIR/fuzz_onnx COUNT SEED
    DUET_FUZZ_FILES=OUT_DIR/fuzz_onnx build/tests/duet_test_fuzz --gtest_filter='*Onnx*'

The replay runs each model through the fuzz_onnx entry (load, one forward on zeros): every model
must load and run or fail with duet::Error. A sanitizer build (-DDUET_SANITIZE=address,undefined)
makes it an ASan/UBSan check. Also usable as extra seeds for scripts/fuzz.sh fuzz_onnx.
"""
import os
import random
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper

# Integers at and near the edges of int64 and of small shapes.
EXTREME = [-2**63, -2**62, -2**31, -1000, -5, -3, -2, -1, 0, 1, 2, 3, 4, 5, 1000, 2**31, 2**62,
           2**63 - 1]
FLOATS = [0.0, -0.0, 0.5, 1.0, 2.0, 1.5, -1.0, 1e-30, 1e30, float("inf"), float("nan"), 3.0, 0.25]
DTYPES = [TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL, TensorProto.DOUBLE]

# op: number of data (graph) inputs; constant inputs are appended at random.
OPS = {
    "Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Pow": 2, "Sqrt": 1, "Exp": 1, "Log": 1, "Erf": 1,
    "Reciprocal": 1, "Neg": 1, "Abs": 1, "Sign": 1, "Max": 3, "Min": 2, "Sum": 3, "Mean": 2,
    "Equal": 2, "Less": 2, "LessOrEqual": 2, "Greater": 2, "GreaterOrEqual": 2, "Not": 1, "And": 2,
    "Or": 2, "Xor": 2, "Where": 3, "Cast": 1, "CastLike": 2, "IsNaN": 1, "IsInf": 1, "Floor": 1,
    "Ceil": 1, "Round": 1, "Mod": 2, "Flatten": 1, "Reshape": 1, "Transpose": 1, "Concat": 3,
    "Split": 1, "Squeeze": 1, "Unsqueeze": 1, "Pad": 1, "Expand": 1, "Tile": 1, "Slice": 1,
    "Gather": 1, "Shape": 1, "Size": 1, "ConstantOfShape": 0, "Range": 0, "ReduceSum": 1,
    "ReduceMean": 1, "ReduceMax": 1, "ReduceMin": 1, "ReduceProd": 1, "ReduceL1": 1, "ReduceL2": 1,
    "ReduceSumSquare": 1, "ReduceLogSum": 1, "ReduceLogSumExp": 1, "ArgMax": 1, "ArgMin": 1,
    "DepthToSpace": 1, "SpaceToDepth": 1, "Trilu": 1, "EyeLike": 1, "OneHot": 1, "CumSum": 1,
    "Resize": 1, "Upsample": 1, "GatherElements": 2,
}
INTS_ATTRS = {"perm", "axes", "pads", "split", "starts", "ends", "shape"}
STR_ATTRS = {
    "mode": ["constant", "reflect", "edge", "wrap", "nearest", "linear", "cubic", "DCR", "CRD", ""],
    "coordinate_transformation_mode": ["half_pixel", "align_corners", "asymmetric",
                                       "tf_crop_and_resize", "x"],
    "nearest_mode": ["floor", "ceil", "round_prefer_ceil", "bogus"],
}
# The attributes each operator reads.
ATTRS = {
    "Flatten": ["axis"], "Reshape": ["allowzero"], "Transpose": ["perm"], "Concat": ["axis"],
    "Split": ["axis", "split"], "Squeeze": ["axes"], "Unsqueeze": ["axes"],
    "Pad": ["mode", "pads", "value"], "Slice": ["starts", "ends", "axes"], "Gather": ["axis"],
    "Shape": ["start", "end"], "ConstantOfShape": ["value"], "GatherElements": ["axis"],
    "ReduceSum": ["axes", "keepdims", "noop_with_empty_axes"],
    "ArgMax": ["axis", "keepdims", "select_last_index"],
    "ArgMin": ["axis", "keepdims", "select_last_index"], "DepthToSpace": ["blocksize", "mode"],
    "SpaceToDepth": ["blocksize"], "Trilu": ["upper"], "EyeLike": ["dtype", "k"],
    "OneHot": ["axis"], "CumSum": ["exclusive", "reverse"], "Mod": ["fmod"],
    "IsInf": ["detect_positive", "detect_negative"], "Cast": ["to"],
    "Resize": ["mode", "coordinate_transformation_mode", "nearest_mode", "exclude_outside"],
    "Upsample": ["mode"],
}
for reduce_op in ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
                  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"]:
    ATTRS[reduce_op] = ["axes", "keepdims"]


def rint():
    return random.choice(EXTREME) if random.random() < 0.5 else random.randint(-4, 4)


def rints():
    return [rint() for _ in range(random.randint(0, 6))]


def rshape():
    return [random.randint(0, 4) for _ in range(random.randint(0, 4))]


def attribute(key):
    if key in STR_ATTRS:
        return random.choice(STR_ATTRS[key])
    if key == "value":
        return numpy_helper.from_array(np.array([random.choice(FLOATS)], dtype=np.float32))
    if key in INTS_ATTRS:
        return rints() or [rint()]
    if key == "to":
        return random.choice([1, 6, 7, 9, 11, 10, 16, 8, 0, 100])
    if key == "blocksize":
        return random.choice([1, 2, 3, 0, -1, 2**40])
    return rint() if random.random() < 0.3 else random.randint(-2, 2)


def model(op):
    opset = random.choice([7, 9, 10, 11, 12, 13, 14, 15, 17])
    inputs, inits, names = [], [], []
    for k in range(OPS[op] + (random.randint(0, 2) if op in ("Max", "Sum", "Concat") else 0)):
        dt = random.choice(DTYPES) if random.random() < 0.3 else TensorProto.FLOAT
        inputs.append(helper.make_tensor_value_info(f"x{k}", dt, rshape()))
        names.append(f"x{k}")
    for k in range(random.randint(0, 4)):  # constant (shape-like) inputs, some omitted
        if random.random() < 0.15:
            names.append("")
            continue
        if random.random() < 0.8:
            arr = np.array(rints() if random.random() < 0.8 else rint(), dtype=np.int64)
        else:
            arr = np.array([random.choice(FLOATS) for _ in range(random.randint(0, 4))],
                           dtype=np.float32)
        inits.append(numpy_helper.from_array(arr, f"c{k}"))
        names.append(f"c{k}")
    attrs = {key: attribute(key) for key in ATTRS.get(op, []) if random.random() < 0.5}
    outs = [f"y{k}" for k in range(random.choice([1, 2, 3]) if op == "Split" else 1)]
    node = helper.make_node(op, names, outs, **attrs)
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs]
    graph = helper.make_graph([node], "g", inputs, outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def main():
    out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    random.seed(seed)
    os.makedirs(out, exist_ok=True)
    ops = list(OPS)
    for i in range(count):
        m = model(random.choice(ops))
        with open(os.path.join(out, f"fuzz_onnx_{i:05d}.onnx"), "wb") as f:
            f.write(m.SerializeToString())
    print(count, "models")
    return 0


if __name__ == "__main__":
    sys.exit(main())
