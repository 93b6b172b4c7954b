"""Small helpers to write ONNX graphs with native LSTM operators from plain weights.

Used by the seed-model converter (weights read out of a TFLite flatbuffer) and by our
own model's export (weights of a trained tf-keras model). Writing the graph ourselves,
rather than through tf2onnx, keeps it to operators tract runs (LSTM, MatMul, Softmax,
Transpose, Reshape, Reduce*, elementwise) and never emits `Loop`.

Gate order: Keras and TFLite keep an LSTM's four gates as (input, forget, cell, output);
ONNX wants (input, output, forget, cell).
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class Graph:
    """Collects nodes and initialisers; names are made unique by a counter."""

    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, hint):
        self.n += 1
        return f"{hint}_{self.n}"

    def const(self, hint, array):
        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type, inputs, hint=None, **attrs):
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def model(self, inp, out, steps, features, classes, doc):
        """The model; its input is declared [batch, steps, features]."""
        x = helper.make_tensor_value_info(inp, TensorProto.FLOAT, ["batch", steps, features])
        y = helper.make_tensor_value_info(out, TensorProto.FLOAT, ["batch", classes])
        g = helper.make_graph(self.nodes, "suriguard", [x], [y], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="suriguard-models")
        m.doc_string = doc
        m.ir_version = 8
        return m


def keras_gates_to_onnx(w):
    """Reorders the leading 4H axis from (i, f, c, o) to (i, o, f, c)."""
    i, f, c, o = np.split(np.asarray(w, dtype=np.float32), 4, axis=0)
    return np.concatenate([i, o, f, c], axis=0)


def lstm(g, x_tm, hidden, directions):
    """A native ONNX LSTM over time-major `x_tm` ([T, B, F]).

    `directions` is a list of (W [4H, F], R [4H, H], bias [4H]) in Keras/TFLite gate
    order: one entry for a forward LSTM, two (forward, backward) for a bidirectional one.
    Returns the per-step outputs as [T, B, D*H], forward half first.
    """
    W = np.stack([keras_gates_to_onnx(w) for w, _, _ in directions])
    R = np.stack([keras_gates_to_onnx(r) for _, r, _ in directions])
    B = np.stack([np.concatenate([keras_gates_to_onnx(b), np.zeros_like(b)])
                  for _, _, b in directions]).astype(np.float32)
    d = len(directions)
    y = g.op("LSTM", [x_tm, g.const("W", W), g.const("R", R), g.const("B", B)], "lstm",
             hidden_size=hidden, direction="bidirectional" if d == 2 else "forward")
    # Y is [T, D, B, H]; put the directions next to the units and merge them.
    y = g.op("Transpose", [y], perm=[0, 2, 1, 3])
    return g.op("Reshape", [y, g.const("shape", np.array([0, 0, d * hidden], np.int64))])


def asym_fake_quant(g, x):
    """TFLite's run-time input quantisation of hybrid FULLY_CONNECTED ops, as float ops.

    Each row (last axis) is quantised to int8 with an asymmetric range that includes 0
    (scale = (max - min) / 255, zero point nudged and rounded half up), then turned back
    to float: the product with dequantised int8 weights equals TFLite's integer
    accumulation times both scales.
    """
    zero = g.const("zero", np.array(0.0, np.float32))
    rmin = g.op("Min", [g.op("ReduceMin", [x], axes=[-1], keepdims=1), zero])
    rmax = g.op("Max", [g.op("ReduceMax", [x], axes=[-1], keepdims=1), zero])
    scale = g.op("Div", [g.op("Sub", [rmax, rmin]), g.const("q255", np.array(255.0, np.float32))])
    scale = g.op("Max", [scale, g.const("tiny", np.array(1e-30, np.float32))])
    half = g.const("half", np.array(0.5, np.float32))
    lo = g.const("qmin", np.array(-128.0, np.float32))
    hi = g.const("qmax", np.array(127.0, np.float32))
    zp = g.op("Sub", [lo, g.op("Div", [rmin, scale])])
    zp = g.op("Clip", [g.op("Floor", [g.op("Add", [zp, half])]), lo, hi])
    inv = g.op("Reciprocal", [scale])
    q = g.op("Floor", [g.op("Add", [g.op("Add", [zp, g.op("Mul", [x, inv])]), half])])
    q = g.op("Clip", [q, lo, hi])
    return g.op("Mul", [g.op("Sub", [q, zp]), scale])


def dense(g, x, w_out_in, bias):
    """x @ W^T + b, with W as [out, in] (TFLite's FULLY_CONNECTED layout)."""
    y = g.op("MatMul", [x, g.const("Wt", np.ascontiguousarray(np.asarray(w_out_in, np.float32).T))])
    return g.op("Add", [y, g.const("b", np.asarray(bias, np.float32))])
