"""Write the ONNX fixtures for ShuffleNetGen's ONNX importer tests (tests/ShuffleNetGen.Tests/Fixtures/onnx/).

Usage: /usr/bin/python3 tools/make_onnx_fixtures.py [--out DIR]

From the PyTorch fixtures in Fixtures/pytorch (tools/make_fixtures.py), it writes graphs in the forms found in the wild:
  g3_small_64.onnx         torch.onnx.export, eval mode, opset 13: batch norm folded into conv weight + bias
  g8_gray_48x40.onnx       the same at opset 9 (Pad takes its pads as an attribute)
  g2_odd_33.onnx           the same at opset 17
  g8_gray_48x40_bn.onnx    torch.onnx.export with training=PRESERVE on an eval model and constant folding:
                           separate BatchNormalization nodes (epsilon 1e-5), static shuffle reshapes
  g3_small_64_handbuilt.onnx  built with onnx.helper: BatchNormalization with epsilon 1e-3 (variances adjusted so
                           the network is unchanged), weights of stride-1 units as Constant nodes, batch-norm
                           parameters as float_data, AveragePool with pads 1 and count_include_pad = 1 (no Pad),
                           the shuffle as a 4-d Reshape [0, g, -1, H*W] / Transpose / Reshape, Add with its inputs
                           swapped, an Identity, ReduceMean + Reshape as the global pool, MatMul + Add classifier.
Every file passes onnx.checker. Output is deterministic for a given torch/onnx version.
"""

import argparse
import collections
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures")


def load_fixture(name):
    base = os.path.join(FIXTURES, "pytorch", name)
    with open(base + ".json", encoding="utf-8") as f:
        config = json.load(f)
    return config, safetensors_io.load(base + ".safetensors")


def torch_export(config, weights, path, opset, keep_batch_norm=False):
    model = load_weights(ShuffleNetV1.from_config(config), weights).eval()
    dummy = torch.zeros(1, config["input_channels"], config["input_height"], config["input_width"])
    with torch.no_grad():
        torch.onnx.export(
            model, dummy, path, input_names=["input"], output_names=["logits"], opset_version=opset,
            do_constant_folding=True,
            # PRESERVE exports the model in its current (eval) mode without the EVAL-mode conv/BN fusion.
            training=torch.onnx.TrainingMode.PRESERVE if keep_batch_norm else torch.onnx.TrainingMode.EVAL,
        )


def handbuilt(config, weights, path, eps=1e-3, opset=13):
    g = config["groups"]
    nodes, inits = [], []
    counter = collections.Counter()

    def fresh(prefix):
        counter[prefix] += 1
        return f"{prefix}_{counter[prefix]}"

    def initializer(name, arr, float_data=False):
        arr = np.asarray(arr)
        if float_data:
            inits.append(helper.make_tensor(name, TensorProto.FLOAT, arr.shape, arr.astype(np.float32).ravel().tolist()))
        else:
            inits.append(numpy_helper.from_array(arr, name))
        return name

    def constant_node(name, arr):
        nodes.append(helper.make_node("Constant", [], [name], name=name + "_const", value=numpy_helper.from_array(np.asarray(arr), name)))
        return name

    def conv_bn(x, conv, bn, stride, group, pad, as_constant):
        w = weights[conv + ".weight"]
        wname = constant_node(conv + ".weight", w) if as_constant else initializer(conv + ".weight", w)
        y = fresh(conv + "_out")
        nodes.append(helper.make_node("Conv", [x, wname], [y], name=conv, kernel_shape=list(w.shape[2:]), strides=[stride, stride],
                                      pads=[pad] * 4, group=group))
        var = (weights[bn + ".running_var"].astype(np.float64) + 1e-5 - eps).astype(np.float32)
        params = [initializer(bn + "." + k, v, float_data=True) for k, v in (
            ("weight", weights[bn + ".weight"]), ("bias", weights[bn + ".bias"]),
            ("running_mean", weights[bn + ".running_mean"]), ("running_var", var))]
        z = fresh(bn + "_out")
        nodes.append(helper.make_node("BatchNormalization", [y] + params, [z], name=bn, epsilon=eps))
        return z

    def relu(x, name):
        y = fresh(name + "_out")
        nodes.append(helper.make_node("Relu", [x], [y], name=name))
        return y

    h, w = config["input_height"], config["input_width"]
    out = lambda s: (s - 1) // 2 + 1  # noqa: E731
    x = conv_bn("input", "conv1", "bn1", config["stem_stride"], 1, 1, False)
    if config["stem_stride"] == 2:
        h, w = out(h), out(w)
    x = relu(x, "stem_relu")
    nodes.append(helper.make_node("Identity", [x], ["stem_identity"], name="stem_identity"))
    x = "stem_identity"
    if config["stem_max_pool"]:
        nodes.append(helper.make_node("MaxPool", [x], ["maxpool_out"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
        x = "maxpool_out"
        h, w = out(h), out(w)

    width, unit = config["stem_channels"], 0
    for stage, (cout, repeats) in enumerate(zip(config["stage_channels"], config["stage_repeats"])):
        for r in range(repeats):
            stride = 2 if r == 0 else 1
            mid = cout // 4
            p = f"units.{unit}."
            y = conv_bn(x, p + "conv1", p + "bn1", 1, 1 if unit == 0 else g, 0, stride == 1)
            y = relu(y, p + "relu1")
            shape1 = initializer(p + "shuffle_shape1", np.array([0, g, -1, h * w], dtype=np.int64))
            shape2 = initializer(p + "shuffle_shape2", np.array([1, mid, h, w], dtype=np.int64))
            nodes.append(helper.make_node("Reshape", [y, shape1], [p + "shuffle_a"], name=p + "shuffle_reshape1"))
            nodes.append(helper.make_node("Transpose", [p + "shuffle_a"], [p + "shuffle_b"], name=p + "shuffle_transpose", perm=[0, 2, 1, 3]))
            nodes.append(helper.make_node("Reshape", [p + "shuffle_b", shape2], [p + "shuffle_c"], name=p + "shuffle_reshape2"))
            y = conv_bn(p + "shuffle_c", p + "dw", p + "bn2", stride, mid, 1, stride == 1)
            y = conv_bn(y, p + "conv3", p + "bn3", 1, g, 0, stride == 1)
            if stride == 1:
                nodes.append(helper.make_node("Add", [x, y], [p + "add"], name=p + "add"))
                joined = p + "add"
            else:
                nodes.append(helper.make_node("AveragePool", [x], [p + "pool"], name=p + "shortcut_pool", kernel_shape=[3, 3], strides=[2, 2],
                                              pads=[1] * 4, count_include_pad=1))
                nodes.append(helper.make_node("Concat", [p + "pool", y], [p + "concat"], name=p + "concat", axis=1))
                joined = p + "concat"
                h, w = out(h), out(w)
            x = relu(joined, p + "relu_out")
            width, unit = cout, unit + 1

    nodes.append(helper.make_node("ReduceMean", [x], ["pooled"], name="global_pool", axes=[2, 3], keepdims=1))
    nodes.append(helper.make_node("Reshape", ["pooled", initializer("flat_shape", np.array([1, width], dtype=np.int64))], ["features"], name="flatten"))
    fc_t = initializer("fc.weight_t", np.ascontiguousarray(weights["fc.weight"].T))
    nodes.append(helper.make_node("MatMul", ["features", fc_t], ["fc_mm"], name="fc_matmul"))
    nodes.append(helper.make_node("Add", ["fc_mm", initializer("fc.bias", weights["fc.bias"])], ["logits"], name="fc_bias"))

    graph = helper.make_graph(
        nodes, "shufflenet_handbuilt",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, config["input_channels"], config["input_height"], config["input_width"]])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, config["classes"]])],
        inits)
    model = helper.make_model(graph, producer_name="ShuffleNetGen tools/make_onnx_fixtures.py", opset_imports=[helper.make_opsetid("", opset)])
    onnx.save(model, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(FIXTURES, "onnx"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)

    jobs = [
        ("g3_small_64.onnx", "g3_small_64", lambda c, w, p: torch_export(c, w, p, 13)),
        ("g8_gray_48x40.onnx", "g8_gray_48x40", lambda c, w, p: torch_export(c, w, p, 9)),
        ("g2_odd_33.onnx", "g2_odd_33", lambda c, w, p: torch_export(c, w, p, 17)),
        ("g8_gray_48x40_bn.onnx", "g8_gray_48x40", lambda c, w, p: torch_export(c, w, p, 13, keep_batch_norm=True)),
        ("g3_small_64_handbuilt.onnx", "g3_small_64", handbuilt),
    ]
    total = 0
    for file_name, fixture, make in jobs:
        config, weights = load_fixture(fixture)
        path = os.path.join(args.out, file_name)
        make(config, weights, path)
        model = onnx.load(path)
        onnx.checker.check_model(model, full_check=True)
        ops = collections.Counter(n.op_type for n in model.graph.node)
        size = os.path.getsize(path)
        total += size
        print(f"{file_name}: {size} bytes, opset {model.opset_import[0].version}: " + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items())))
    print(f"total {total} bytes")


if __name__ == "__main__":
    main()
