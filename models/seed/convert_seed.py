#!/usr/bin/env python3
"""Converts the replaced edge IDS's TFLite model into ONNX with native LSTM operators.

    python models/seed/convert_seed.py [../shared/data/seed-model/Lstm_converted2.tflite] \
        [models/seed/seed-bilstm.onnx]

Run offline by a developer (needs `numpy`, `onnx` and `tflite` from PyPI: see
models/requirements.txt); the output and its sidecar metadata are committed.

The TFLite model cannot be run by tract-tflite (WHILE loops over Flex TensorList ops,
hybrid-quantised FULLY_CONNECTED; see docs/MODELS.md). Its architecture is
BiLSTM(100) -> BiLSTM(100) -> dot-product attention -> average pool -> Dense(34, softmax),
over an input of shape (batch, 1, 24). This script reads the weights out of the
flatbuffer (int8 tensors with one scale each, float biases), dequantises them, and
rebuilds the same network from ONNX operators. TFLite quantises the inputs of each hybrid
FULLY_CONNECTED per row at run time; the graph reproduces that step before both LSTM
layers and the dense layer, which is exact for this model's one time step (the recurrent
input of the first step is zero). For longer sequences the recurrent products would
differ by that quantisation: the model was never fed more than one step.
"""

import json
import os
import sys

import numpy as np
import onnx
import tflite

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from onnx_lstm import Graph, asym_fake_quant, dense, lstm  # noqa: E402

SEED_FEATURES = [
    "bytes_toserver", "bytes_toclient", "pkts_toserver", "pkts_toclient", "age",
    "bytes_total", "pkts_total", "bytes_per_pkt", "pkt_rate", "byte_rate",
    "src_port_norm", "dest_port_norm", "is_tcp", "is_udp", "is_icmp", "syn", "ack", "fin",
    "rst", "psh", "urg", "state_new", "alerted", "app_code",
]


def op_names(m):
    names = {v: k for k, v in tflite.BuiltinOperator.__dict__.items() if not k.startswith("_")}
    out = []
    for i in range(m.OperatorCodesLength()):
        oc = m.OperatorCodes(i)
        code = max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode())
        out.append(names.get(code, str(code)) if code != tflite.BuiltinOperator.CUSTOM
                   else oc.CustomCode().decode())
    return out


def tensor(m, g, idx):
    """A constant tensor, dequantised when it is int8 with a scale."""
    t = g.Tensors(idx)
    raw = m.Buffers(t.Buffer()).DataAsNumpy()
    shape = list(t.ShapeAsNumpy())
    if t.Type() == tflite.TensorType.INT8:
        q = t.Quantization()
        scale = q.ScaleAsNumpy()
        if len(scale) != 1:
            raise SystemExit(f"tensor {t.Name()} has {len(scale)} scales; expected one")
        return raw.view(np.int8).astype(np.float32).reshape(shape) * np.float32(scale[0])
    if t.Type() == tflite.TensorType.FLOAT32:
        return raw.view(np.float32).reshape(shape)
    raise SystemExit(f"tensor {t.Name()} has unexpected type {t.Type()}")


def cell_weights(m, body, names):
    """(W [400, F], R [400, H], bias [400]) of one LSTM direction's WHILE body."""
    g = m.Subgraphs(body)
    fcs, bias = [], None
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        name = names[op.OpcodeIndex()]
        ins = list(op.InputsAsNumpy())
        if name == "FULLY_CONNECTED":
            fcs.append(ins)
        if name == "ADD":
            for i in ins:
                if i >= 0 and m.Buffers(g.Tensors(i).Buffer()).DataLength() == 1600:
                    bias = tensor(m, g, i)
    assert len(fcs) == 2 and bias is not None, "unexpected LSTM body"
    # The recurrent FC reads the previous h (a subgraph input); the other reads x_t.
    inputs = set(g.InputsAsNumpy())
    rec = [f for f in fcs if f[0] in inputs][0]
    inp = [f for f in fcs if f[0] not in inputs][0]
    return tensor(m, g, inp[1]), tensor(m, g, rec[1]), bias


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "..", "..", "..", "shared", "data", "seed-model", "Lstm_converted2.tflite")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "seed-bilstm.onnx")
    buf = open(src, "rb").read()
    m = tflite.Model.GetRootAsModel(buf, 0)
    names = op_names(m)
    main_g = m.Subgraphs(0)

    # The four WHILE ops in order: layer 1 backward, layer 1 forward, layer 2 backward,
    # layer 2 forward (a backward one reads the REVERSE_V2 of its input).
    reversed_outputs = set()
    whiles = []
    for k in range(main_g.OperatorsLength()):
        op = main_g.Operators(k)
        name = names[op.OpcodeIndex()]
        if name == "REVERSE_V2":
            reversed_outputs.add(op.OutputsAsNumpy()[0])
        if name == "WHILE":
            o = op.BuiltinOptions()
            w = tflite.WhileOptions()
            w.Init(o.Bytes, o.Pos)
            backward = op.InputsAsNumpy()[-1] in reversed_outputs
            whiles.append((backward, w.BodySubgraphIndex()))
        if name == "FULLY_CONNECTED":
            dense_w, dense_b = (tensor(m, main_g, i) for i in op.InputsAsNumpy()[1:3])
    assert [b for b, _ in whiles] == [True, False, True, False], whiles
    layers = []
    for pair in (whiles[0:2], whiles[2:4]):
        bwd = cell_weights(m, pair[0][1], names)
        fwd = cell_weights(m, pair[1][1], names)
        layers.append([fwd, bwd])

    g = Graph()
    x = g.op("Transpose", ["input"], perm=[1, 0, 2])  # [T, B, 24]
    for layer in layers:
        x = lstm(g, asym_fake_quant(g, x), 100, layer)  # [T, B, 200]
    h = g.op("Transpose", [x], perm=[1, 0, 2])  # [B, T, 200]
    scores = g.op("MatMul", [h, g.op("Transpose", [h], perm=[0, 2, 1])])
    att = g.op("MatMul", [g.op("Softmax", [scores], axis=-1), h])
    pooled = g.op("ReduceMean", [att], axes=[1], keepdims=0)  # [B, 200]
    logits = dense(g, asym_fake_quant(g, pooled), dense_w, dense_b)
    probs = g.op("Softmax", [logits], "probabilities", axis=-1)
    model = g.model("input", probs, 1, 24, 34,
                    "The replaced edge IDS's CICIoT2023 BiLSTM, converted from TFLite by "
                    "models/seed/convert_seed.py. A compatibility path, not a good detector.")
    onnx.checker.check_model(model)
    onnx.save(model, dst)

    meta = {
        "name": "seed-bilstm",
        "version": "tflite-Lstm_converted2",
        "format": "onnx",
        "extractor": "seed-v1",
        "sequence-length": 1,
        "features": SEED_FEATURES,
        "output": "probabilities",
        "classes": ["benign"] + [f"ciciot2023-class-{k}" for k in range(1, 34)],
        "benign-class": "benign",
        "about": {
            "what": "The edge IDS's CICIoT2023-trained model, converted. Class 0 is benign; "
                    "the names of the other 33 classes were not published with the model.",
            "warning": "Trained on features computed differently from run time: calls benign "
                       "traffic malicious. A compatibility path for comparison, not a detector.",
            "source": "../shared/data/seed-model/Lstm_converted2.tflite (JonxKh/CP2 @ ef6b46234c77)",
        },
    }
    with open(os.path.splitext(dst)[0] + ".meta.json", "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")

    # A developer-side check with onnxruntime when it is installed; the committed test
    # runs the model through tract (core/tests/models.rs).
    try:
        import onnxruntime as ort
    except ImportError:
        return
    ref = json.load(open(os.path.join(os.path.dirname(src), "reference-outputs.json")))
    sess = ort.InferenceSession(dst, providers=["CPUExecutionProvider"])
    worst, agree = 0.0, 0
    for case in ref["cases"]:
        x = np.asarray(case["input"], np.float32).reshape(1, 1, 24)
        out = sess.run(None, {"input": x})[0][0]
        want = np.asarray(case["tflite_output"], np.float32)
        worst = max(worst, float(np.abs(out - want).max()))
        agree += int(out.argmax() == want.argmax())
    print(f"onnxruntime vs TFLite: argmax {agree}/{len(ref['cases'])}, max |diff| {worst:.3g}")


if __name__ == "__main__":
    main()
