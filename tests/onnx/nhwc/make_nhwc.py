"""NHWC models in the style tf2onnx writes for a Keras CNN (tf2onnx itself is not installable
here), built with onnx.helper, for duet's import test (onnx_torchvision_import).

    python make_nhwc.py OUT_DIR

Writes OUT_DIR/<case>/{model.onnx, input_0.pb, output_0.pb, output_1.pb}; the expected outputs
are ONNX Runtime's (CPU) at generation time. The graph (N, H, W, 3) NHWC input:
  Transpose(0,3,1,2) -> Conv 3x3 stride 2 with asymmetric pads (TF "SAME" at an even size)
  -> Mul/Add with (1,C,1,1) constants (a folded batch norm) -> Clip 0..6 (relu6)
  -> Pad (end only, TF "SAME" stride 2) -> depthwise Conv 3x3 stride 2 -> Mul/Add -> Clip
  -> Conv 1x1 -> Relu -> Transpose(0,2,3,1) back: output 1, NHWC features
  -> pooling: GlobalAveragePool + Reshape(-1, C) (opset 13 case), or ReduceMean over the NHWC
     H, W axes with keepdims=0 (opset 17 case)
  -> MatMul + Add -> Softmax: output 0, class probabilities.
"""
import os
import sys

import numpy as np
import onnx
import onnx.helper as oh
import onnx.numpy_helper as onh
import onnxruntime as ort


def build(opset, pooling, rng):
    c1, c2, classes = 16, 24, 10
    inits = []

    def const(name, array):
        inits.append(onh.from_array(np.asarray(array, dtype=np.float32 if np.asarray(array).dtype
                                               .kind == "f" else np.int64), name))
        return name

    w = lambda *s: (rng.standard_normal(s) * (2.0 / np.prod(s[1:])) ** 0.5).astype(np.float32)
    nodes = [
        oh.make_node("Transpose", ["input_1"], ["nchw"], perm=[0, 3, 1, 2]),
        # TF SAME, stride 2, even H: one padding row at the bottom only; W: one on each side.
        oh.make_node("Conv", ["nchw", const("conv1/w", w(c1, 3, 3, 3))], ["conv1"],
                     kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 1]),
        oh.make_node("Mul", ["conv1", const("bn1/scale", rng.uniform(0.5, 1.5, (1, c1, 1, 1)))],
                     ["bn1_mul"]),
        oh.make_node("Add", ["bn1_mul", const("bn1/shift", rng.normal(0, 0.1, (1, c1, 1, 1)))],
                     ["bn1"]),
        oh.make_node("Clip", ["bn1", const("relu6/min", np.float32(0)),
                              const("relu6/max", np.float32(6))], ["act1"]),
        # tf2onnx's other style: an explicit Pad (end only) before a pads-free conv.
        oh.make_node("Pad", ["act1", const("pad2/pads", [0, 0, 0, 0, 0, 0, 1, 1])], ["pad2"],
                     mode="constant"),
        oh.make_node("Conv", ["pad2", const("dw/w", w(c1, 1, 3, 3)), const("dw/b",
                     rng.normal(0, 0.1, c1))], ["dw"], kernel_shape=[3, 3], strides=[2, 2],
                     group=c1),
        oh.make_node("Mul", ["dw", const("bn2/scale", rng.uniform(0.5, 1.5, (1, c1, 1, 1)))],
                     ["bn2_mul"]),
        oh.make_node("Add", ["bn2_mul", const("bn2/shift", rng.normal(0, 0.1, (1, c1, 1, 1)))],
                     ["bn2"]),
        oh.make_node("Clip", ["bn2", "relu6/min", "relu6/max"], ["act2"]),
        oh.make_node("Conv", ["act2", const("pw/w", w(c2, c1, 1, 1)),
                              const("pw/b", rng.normal(0, 0.1, c2))], ["pw"], kernel_shape=[1, 1]),
        oh.make_node("Relu", ["pw"], ["act3"]),
        oh.make_node("Transpose", ["act3"], ["features"], perm=[0, 2, 3, 1]),
    ]
    if pooling == "gap":
        nodes += [
            oh.make_node("GlobalAveragePool", ["act3"], ["gap"]),
            oh.make_node("Reshape", ["gap", const("flat/shape", [-1, c2])], ["pooled"]),
        ]
    else:
        nodes += [oh.make_node("ReduceMean", ["features"], ["pooled"], axes=[1, 2], keepdims=0)]
    nodes += [
        oh.make_node("MatMul", ["pooled", const("dense/kernel", rng.normal(0, 0.3, (c2, classes)))],
                     ["dense_mm"]),
        oh.make_node("Add", ["dense_mm", const("dense/bias", rng.normal(0, 0.1, classes))],
                     ["logits"]),
        oh.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = oh.make_graph(
        nodes, "keras_cnn",
        [oh.make_tensor_value_info("input_1", onnx.TensorProto.FLOAT, ["N", 32, 45, 3])],
        [oh.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, ["N", classes]),
         oh.make_tensor_value_info("features", onnx.TensorProto.FLOAT, ["N", 8, 11, c2])],
        inits)
    model = oh.make_model(graph, producer_name="tf2onnx-style",
                          opset_imports=[oh.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    out = sys.argv[1]
    for i, (opset, pooling) in enumerate([(13, "gap"), (17, "reducemean")]):
        rng = np.random.default_rng(100 + i)
        model = build(opset, pooling, rng)
        case = f"nhwc_{pooling}_opset{opset}"
        d = os.path.join(out, case)
        os.makedirs(d, exist_ok=True)
        onnx.save(model, os.path.join(d, "model.onnx"))
        x = rng.standard_normal((2, 32, 45, 3)).astype(np.float32)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        sess = ort.InferenceSession(os.path.join(d, "model.onnx"), so,
                                    providers=["CPUExecutionProvider"])
        probs, features = sess.run(["probs", "features"], {"input_1": x})
        onnx.save_tensor(onh.from_array(x, "input_1"), os.path.join(d, "input_0.pb"))
        onnx.save_tensor(onh.from_array(probs, "probs"), os.path.join(d, "output_0.pb"))
        onnx.save_tensor(onh.from_array(features, "features"), os.path.join(d, "output_1.pb"))
        print(f"wrote {case}: probs {probs.shape}, features {features.shape}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
