#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/fuzz_onnx.cpp into fuzz/corpus/fuzz_onnx/: tiny valid ONNX
models (layers, shape chains, constants, broadcasting) and malformed ones (truncated, a cycle,
a missing initializer, a bad opset, raw_data of the wrong size, absurd dims, ...).

  ~/.cache/duet/venv/bin/python fuzz/make_onnx_seeds.py   (needs the onnx package)
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_onnx")
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="seed")
    m.ir_version = 8
    return m


def vi(name, elem, dims):
    return helper.make_tensor_value_info(name, elem, dims)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def seeds():
    r = np.random.RandomState(0)
    f32 = lambda *s: r.randn(*s).astype(np.float32)
    yield "relu", model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", F, [2, 3])],
                        [vi("y", F, [2, 3])])
    yield "mlp", model(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["a"]),
         helper.make_node("Relu", ["a"], ["r"]), helper.make_node("Softmax", ["r"], ["y"], axis=1)],
        [vi("x", F, [2, 4])], [vi("y", F, [2, 3])], [init("w", f32(4, 3)), init("b", f32(3))])
    yield "gemm", model(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1, alpha=0.5)],
        [vi("x", F, [2, 4])], [vi("y", F, [2, 3])], [init("w", f32(3, 4)), init("b", f32(3))])
    yield "conv_bn_pool", model(
        [helper.make_node("Conv", ["x", "w", "cb"], ["c"], pads=[1, 1, 1, 1], strides=[1, 1]),
         helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
         helper.make_node("Relu", ["n"], ["r"]),
         helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("GlobalAveragePool", ["p"], ["gp"]),
         helper.make_node("Flatten", ["gp"], ["y"])],
        [vi("x", F, [1, 2, 4, 4])], [vi("y", F, [1, 3])],
        [init("w", f32(3, 2, 3, 3)), init("cb", f32(3)), init("s", f32(3)), init("bb", f32(3)),
         init("m", f32(3)), init("v", np.abs(f32(3)) + 1)])
    yield "shape_chain", model(
        [helper.make_node("Shape", ["x"], ["s"]),
         helper.make_node("Gather", ["s", "zero"], ["n"]),
         helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
         helper.make_node("Concat", ["n1", "m1"], ["t"], axis=0),
         helper.make_node("Reshape", ["x", "t"], ["y"])],
        [vi("x", F, [3, 2, 2])], [vi("y", F, [3, 4])],
        [init("zero", np.array(0, np.int64)), init("axes", np.array([0], np.int64)),
         init("m1", np.array([-1], np.int64))])
    yield "constant_ops", model(
        [helper.make_node("Constant", [], ["c"], value=init("v", f32(2, 3))),
         helper.make_node("Mul", ["x", "c"], ["m"]),
         helper.make_node("Transpose", ["m"], ["t"], perm=[1, 0]),
         helper.make_node("ReduceSum", ["t", "axes"], ["y"], keepdims=0)],
        [vi("x", F, [2, 3])], [vi("y", F, [3])], [init("axes", np.array([1], np.int64))])
    yield "slice_pad_concat", model(
        [helper.make_node("Slice", ["x", "st", "en", "ax"], ["s"]),
         helper.make_node("Pad", ["s", "pads"], ["p"]),
         helper.make_node("Concat", ["p", "p"], ["c"], axis=1),
         helper.make_node("Squeeze", ["c", "sq"], ["y"])],
        [vi("x", F, [1, 4, 5])], [vi("y", F, [6, 5])],
        [init("st", np.array([1], np.int64)), init("en", np.array([4], np.int64)),
         init("ax", np.array([1], np.int64)), init("pads", np.array([0, 0, 0, 0, 0, 0], np.int64)),
         init("sq", np.array([0], np.int64))])
    yield "broadcast_cast_where", model(
        [helper.make_node("Greater", ["x", "z"], ["g"]),
         helper.make_node("Where", ["g", "x", "z"], ["w"]),
         helper.make_node("Cast", ["w"], ["y"], to=TensorProto.DOUBLE)],
        [vi("x", F, [2, 3])], [vi("y", TensorProto.DOUBLE, [2, 3])],
        [init("z", np.zeros((1, 3), np.float32))])
    yield "symbolic_batch", model([helper.make_node("Sigmoid", ["x"], ["y"])],
                                  [vi("x", F, ["N", 3])], [vi("y", F, ["N", 3])])
    yield "opset11_unsqueeze", model(
        [helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0])], [vi("x", F, [3])],
        [vi("y", F, [1, 3])], opset=11)
    yield "int32_initializer", model(
        [helper.make_node("Add", ["x", "k"], ["y"])], [vi("x", I64, [2])], [vi("y", I64, [2])],
        [helper.make_tensor("k", TensorProto.INT32, [2], [3, -4])])
    yield "conv_transpose_output_shape", model(
        [helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2],
                          output_shape=[5, 6])],
        [vi("x", F, [1, 2, 3, 3])], [vi("y", F, [1, 1, 5, 6])], [init("w", f32(2, 1, 2, 2))])
    yield "avgpool_asym_ceil", model(
        [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 2], strides=[2, 2],
                          pads=[0, 1, 1, 0], ceil_mode=1, count_include_pad=0)],
        [vi("x", F, [1, 1, 5, 4])], [vi("y", F, [1, 1, 3, 3])])
    yield "layer_norm", model(
        [helper.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1, epsilon=1e-5)],
        [vi("x", F, [2, 4])], [vi("y", F, [2, 4])], [init("g", f32(4)), init("b", f32(4))],
        opset=17)
    # Malformed.
    relu = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", F, [2, 3])],
                 [vi("y", F, [2, 3])])
    yield "bad_opset", model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", F, [2])],
                             [vi("y", F, [2])], opset=18)
    yield "cycle", model([helper.make_node("Add", ["x", "b"], ["a"]),
                          helper.make_node("Relu", ["a"], ["b"])],
                         [vi("x", F, [2])], [vi("b", F, [2])])
    yield "missing_init", model([helper.make_node("Add", ["x", "nope"], ["y"])],
                                [vi("x", F, [2])], [vi("y", F, [2])])
    yield "unknown_op", model([helper.make_node("NoSuchOp", ["x"], ["y"])],
                              [vi("x", F, [2])], [vi("y", F, [2])])
    bad_raw = init("w", f32(2, 2))
    bad_raw.raw_data = bad_raw.raw_data[:5]
    yield "bad_raw", model([helper.make_node("MatMul", ["x", "w"], ["y"])], [vi("x", F, [2, 2])],
                           [vi("y", F, [2, 2])], [bad_raw])
    huge = TensorProto(name="w", data_type=F, dims=[1 << 40, 1 << 30])
    yield "absurd_dims", model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x", F, [2])],
                               [vi("y", F, [2])], [huge])
    yield "wrong_attr_type", model(
        [helper.make_node("Softmax", ["x"], ["y"], axis=1.5)], [vi("x", F, [2, 3])],
        [vi("y", F, [2, 3])])
    yield "reshape_bad_shape", model(
        [helper.make_node("Reshape", ["x", "s"], ["y"])], [vi("x", F, [2, 3])],
        [vi("y", F, [5])], [init("s", np.array([5], np.int64))])
    yield "dup_output", model([helper.make_node("Relu", ["x"], ["y"]),
                               helper.make_node("Relu", ["x"], ["y"])],
                              [vi("x", F, [2])], [vi("y", F, [2])])
    yield ("truncated", relu.SerializeToString()[:-7])


def main():
    os.makedirs(OUT, exist_ok=True)
    n = 0
    for name, m in seeds():
        n += 1
        data = m if isinstance(m, bytes) else m.SerializeToString()
        with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
            f.write(data)
    print("wrote", n, "seeds to", OUT, "(with the merged campaign inputs:", len(os.listdir(OUT)), "files)")


if __name__ == "__main__":
    main()
