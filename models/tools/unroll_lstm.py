"""Rewrites a model's forward ONNX LSTM as the same arithmetic in plain operators.

    python3 models/tools/unroll_lstm.py IN.onnx OUT.onnx [--check N]

tract runs a native LSTM as a scan: a nested plan per time step, with the input's
projection made step by step. For our small model (T = 8, hidden 32) that dispatch is
most of the cost. Unrolled, the input projection of all steps is one matrix product
([T·B, F]·[F, 4H]) and each step is one [B, H]·[H, 4H] product plus the gates; the
weights, and so the model, are unchanged: the outputs agree with the native LSTM to
float rounding (checked with onnxruntime on random inputs by --check).

Only what our export writes is supported: one forward LSTM with the default activations,
no peepholes, no clip, no initial state, its last hidden state (Y_h) used and its
sequence output (Y) unused, its input time-major from a Transpose of the model's input.
Anything else is refused with the reason.
"""

import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def fail(msg):
    sys.exit(f"unroll_lstm: {msg}")


def unroll(model):
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    lstms = [n for n in g.node if n.op_type == "LSTM"]
    if len(lstms) != 1:
        fail(f"expected one LSTM node, found {len(lstms)}")
    lstm = lstms[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in lstm.attribute}
    for a in attrs:
        if a not in ("direction", "hidden_size"):
            fail(f"LSTM attribute {a} is not supported")
    if attrs.get("direction", b"forward") != b"forward":
        fail("only a forward LSTM is supported")
    ins = list(lstm.input)
    if len(ins) > 4 and any(ins[4:]):
        fail("sequence lengths, initial states and peepholes are not supported")
    outs = list(lstm.output)
    if len(outs) < 2 or outs[0] or not outs[1] or (len(outs) > 2 and outs[2]):
        fail("only an LSTM whose last hidden state alone is used is supported")
    H = attrs["hidden_size"]
    W, R, B = inits[ins[1]][0], inits[ins[2]][0], inits[ins[3]][0]  # [4H,F], [4H,H], [8H]
    bias = B[: 4 * H] + B[4 * H:]
    # ONNX gate order (i, o, f, c): the three sigmoid gates first, then the cell's input.
    F = W.shape[1]

    # The LSTM's input: a Transpose of the model input to time-major.
    producer = {o: n for n in g.node for o in n.output}
    tr = producer.get(ins[0])
    if tr is None or tr.op_type != "Transpose" or tr.input[0] != g.input[0].name:
        fail("the LSTM's input must be a Transpose of the model input")
    steps = g.input[0].type.tensor_type.shape.dim[1].dim_value
    if steps <= 0:
        fail("the model input needs a fixed number of steps")

    nodes, new_inits, n = [], [], [0]

    def name(hint):
        n[0] += 1
        return f"u_{hint}_{n[0]}"

    def const(hint, arr):
        nm = name(hint)
        new_inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(t, inputs, hint=None, **kw):
        out = name(hint or t.lower())
        nodes.append(helper.make_node(t, inputs, [out], **kw))
        return out

    x_tm = tr.output[0]  # [T, B, F]
    # Every step's input projection at once: [T, B, F]·[F, 4H] + bias.
    xw = op("Add", [op("MatMul", [x_tm, const("Wt", np.ascontiguousarray(W.T))]),
                    const("bias", bias.astype(np.float32))], "xw")
    rt = const("Rt", np.ascontiguousarray(R.T))
    ax0 = lambda v: const("i", np.array([v], np.int64))
    axis_last = const("axis", np.array([1], np.int64))
    h = c = None
    for t in range(steps):
        g_t = op("Squeeze", [op("Slice", [xw, ax0(t), ax0(t + 1), const("a0", np.array([0], np.int64))]),
                             const("a0", np.array([0], np.int64))], f"x{t}")  # [B, 4H]
        if h is not None:
            g_t = op("Add", [g_t, op("MatMul", [h, rt])], f"gates{t}")
        sl = lambda a, b: op("Slice", [g_t, ax0(a), ax0(b), axis_last])
        s = op("Sigmoid", [sl(0, 3 * H)])
        cand = op("Tanh", [sl(3 * H, 4 * H)])
        gi = op("Slice", [s, ax0(0), ax0(H), axis_last], "i")
        go = op("Slice", [s, ax0(H), ax0(2 * H), axis_last], "o")
        ic = op("Mul", [gi, cand])
        if c is None:
            c = ic
        else:
            gf = op("Slice", [s, ax0(2 * H), ax0(3 * H), axis_last], "f")
            c = op("Add", [op("Mul", [gf, c]), ic], f"c{t}")
        h = op("Mul", [go, op("Tanh", [c])], f"h{t}")
    # Y_h is [1, B, H]: give the rest of the graph that shape.
    y_h = op("Unsqueeze", [h, const("a0", np.array([0], np.int64))], "y_h")

    # Splice: replace the LSTM by the new nodes, renaming its Y_h output.
    rest = []
    for node in g.node:
        if node is lstm:
            rest.extend(nodes)
            continue
        node.input[:] = [y_h if i == outs[1] else i for i in node.input]
        rest.append(node)
    del g.node[:]
    g.node.extend(rest)
    keep = {i for node in g.node for i in node.input}
    kept = [t for t in g.initializer if t.name in keep]
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)
    onnx.checker.check_model(model)
    return model


def main():
    p = argparse.ArgumentParser()
    p.add_argument("inp")
    p.add_argument("out")
    p.add_argument("--check", type=int, default=256, help="random inputs compared (0: none)")
    a = p.parse_args()
    src = onnx.load(a.inp)
    out = unroll(onnx.load(a.inp))
    out.doc_string = (src.doc_string + " (LSTM unrolled by models/tools/unroll_lstm.py)").strip()
    if a.check:
        import onnxruntime as ort
        dims = src.graph.input[0].type.tensor_type.shape.dim
        x = np.random.default_rng(7).normal(size=(a.check, dims[1].dim_value, dims[2].dim_value))
        x = x.astype(np.float32)
        run = lambda m: ort.InferenceSession(m.SerializeToString()).run(None, {src.graph.input[0].name: x})[0]
        d = float(np.max(np.abs(run(src) - run(out))))
        print(f"max |native - unrolled| over {a.check} random inputs: {d:.2e}")
        if d > 1e-5:
            fail(f"the unrolled model differs by {d}")
    onnx.save(out, a.out)


if __name__ == "__main__":
    main()
