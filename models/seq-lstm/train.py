#!/usr/bin/env python3
"""Trains suriguard's per-source sequence LSTM and exports it for tract.

    models/seq-lstm/make-data.sh /tmp/suriguard-model-data
    TF_USE_LEGACY_KERAS=1 python models/seq-lstm/train.py /tmp/suriguard-model-data

Needs models/requirements.txt (tf-keras 2.x, onnx; onnxruntime for the seed model's
numbers). Writes, next to this script:

- seq-lstm.onnx, seq-lstm.meta.json: float32 ONNX with a native LSTM operator, and its
  sidecar (features, normalisation, classes) that the runtime checks at load;
- reference.json: fixed input vectors and the training framework's outputs for them,
  which core/tests/models.rs checks tract against (within 1e-4);
- metrics.json: per-class precision/recall/F1 on the held-out lab network and on the
  IoT-23 flows never trained on, next to the seed model's numbers on the same flows.

Data (all made by `suriguardctl model export`, i.e. the plugin's feature code): lab seeds
1-4 train, 5 validates (early stopping), 6 is held out; IoT-23's first half (in time)
trains, its second half is never seen.
"""

import csv
import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402
import onnx  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
from onnx_lstm import Graph, dense, keras_gates_to_onnx  # noqa: E402,F401

CLASSES = ["benign", "scan", "flood", "brute-force", "c2"]
# Weight of a real benign sample (real devices, the real-tool lab's clients) against a
# synthetic one.
REAL_BENIGN_WEIGHT = float(os.environ.get("SURIGUARD_REAL_BENIGN_WEIGHT", "4.0"))
HIDDEN = int(os.environ.get("SURIGUARD_HIDDEN", "32"))
# The recurrent layer: "lstm" (shipped) or "gru" (Keras reset_after, exported as ONNX GRU
# with linear_before_reset = 1, which tract runs as one fused op instead of a scan).
CELL = os.environ.get("SURIGUARD_CELL", "lstm")
# Where the model, its sidecar, reference.json and metrics.json go (default: here).
OUT = os.environ.get("SURIGUARD_MODEL_OUT", HERE)
# Epochs, and whether to stop early on the synthetic validation network's loss (and keep
# its best epoch). The GRU stopped that way after 6 epochs with its best at the 2nd,
# before it had learned the c2 class; 12 epochs without stopping learned it
# (docs/PERFORMANCE.md, "A GRU weighed against the LSTM").
EPOCHS = int(os.environ.get("SURIGUARD_EPOCHS", "30"))
EARLY_STOP = os.environ.get("SURIGUARD_EARLY_STOP", "1") != "0"
SEED = 7


def load(d):
    x = np.load(os.path.join(d, "x.npy"))
    with open(os.path.join(d, "samples.csv")) as f:
        rows = list(csv.DictReader(f))
    y = np.array([CLASSES.index(r["class"]) for r in rows], np.int64)
    meta = json.load(open(os.path.join(d, "export.json")))
    return x, y, meta


def normalise(x, mean, std):
    """Real rows (present == 1) z-scored; padding rows stay all zero."""
    real = x[..., :1] > 0.5
    return np.where(real, (x - mean) / std, 0.0).astype(np.float32)


def metrics(y_true, probs, names):
    """Per-class P/R/F1 by argmax, and benign-vs-malicious at the policy's 0.60."""
    pred = probs.argmax(1)
    out = {}
    for k, name in enumerate(names):
        tp = int(((pred == k) & (y_true == k)).sum())
        fp = int(((pred == k) & (y_true != k)).sum())
        fn = int(((pred != k) & (y_true == k)).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        out[name] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
                     "support": int((y_true == k).sum())}
    out["binary"] = binary(y_true != 0, 1.0 - probs[:, 0] >= 0.60)
    return out


def binary(truth, flagged):
    tp = int((flagged & truth).sum())
    fp = int((flagged & ~truth).sum())
    fn = int((~flagged & truth).sum())
    tn = int((~flagged & ~truth).sum())
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4),
            "f1": round(2 * p * r / (p + r) if p + r else 0.0, 4),
            "false_positive_rate": round(fp / (fp + tn) if fp + tn else 0.0, 4),
            "malicious": int(truth.sum()), "benign": int((~truth).sum())}


def export_onnx(model, path, steps, features):
    d1 = model.get_layer("hidden").get_weights()
    d2 = model.get_layer("classes").get_weights()
    g = Graph()
    x = g.op("Transpose", ["input"], perm=[1, 0, 2])  # [T, B, F]
    _, y_h = g.name("y"), g.name("y_h")
    if CELL == "gru":
        # Keras and ONNX both order a GRU's gates (update, reset, candidate); with
        # reset_after the bias is [input bias, recurrent bias], ONNX's [Wb, Rb].
        kernel, recurrent, bias = model.get_layer("gru").get_weights()  # [F, 3H], [H, 3H], [2, 3H]
        W = np.asarray(kernel.T, np.float32)[None]
        R = np.asarray(recurrent.T, np.float32)[None]
        B = np.asarray(bias, np.float32).reshape(1, 6 * HIDDEN)
        g.nodes.append(onnx.helper.make_node(
            "GRU", [x, g.const("W", W), g.const("R", R), g.const("B", B)], ["", y_h],
            hidden_size=HIDDEN, direction="forward", linear_before_reset=1))
    else:
        kernel, recurrent, bias = model.get_layer("lstm").get_weights()  # [F, 4H], [H, 4H], [4H]
        W = keras_gates_to_onnx(kernel.T)[None]
        R = keras_gates_to_onnx(recurrent.T)[None]
        B = np.concatenate([keras_gates_to_onnx(bias), np.zeros_like(bias)])[None].astype(np.float32)
        g.nodes.append(onnx.helper.make_node(
            "LSTM", [x, g.const("W", W), g.const("R", R), g.const("B", B)], ["", y_h],
            hidden_size=HIDDEN, direction="forward"))
    h = g.op("Reshape", [y_h, g.const("shape", np.array([-1, HIDDEN], np.int64))])  # [B, H]
    h = g.op("Relu", [dense(g, h, d1[0].T, d1[1])])
    probs = g.op("Softmax", [dense(g, h, d2[0].T, d2[1])], "probabilities", axis=-1)
    m = g.model("input", probs, steps, features, len(CLASSES),
                "suriguard per-source sequence LSTM (models/seq-lstm/train.py)")
    onnx.checker.check_model(m)
    onnx.save(m, path)


def seed_model_numbers(data, name):
    """The replaced model (converted) on the same flows, benign vs malicious only: its
    33 attack classes are unnamed CICIoT2023 classes."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    sess = ort.InferenceSession(os.path.join(HERE, "..", "seed", "seed-bilstm.onnx"),
                                providers=["CPUExecutionProvider"])
    x, y, _ = load(os.path.join(data, name))
    probs = np.concatenate([sess.run(None, {"input": x[i:i + 4096]})[0]
                            for i in range(0, len(x), 4096)])
    return x, y, probs


def devices(data):
    """The real IoT devices exported by make-real-data.sh, split whole: every fourth
    (by name) held out for the test, the next quarter for calibration, the rest train."""
    names = sorted(d[len("iot-"):] for d in os.listdir(data) if d.startswith("iot-"))
    split = {"train": [], "calibrate": [], "test": []}
    for k, name in enumerate(names):
        split["test" if k % 4 == 3 else "calibrate" if k % 4 == 2 else "train"].append(name)
    return split


def load_sources(d):
    """As load(), with each sample's source address."""
    x, y, meta = load(d)
    with open(os.path.join(d, "samples.csv")) as f:
        src = [r["src"] for r in csv.DictReader(f)]
    return x, y, src


def decided_sources(conf, src, threshold):
    """Sources with at least two samples at or above the threshold: the policy's two
    verdicts (its 60 s window ignored, so this over-counts)."""
    hits = {}
    for c, s in zip(conf, src):
        if c >= threshold:
            hits[s] = hits.get(s, 0) + 1
    return {s for s, n in hits.items() if n >= 2}


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "/tmp/suriguard-model-data"
    # The same data gives the same model, byte for byte (seeds for Python, NumPy and
    # TensorFlow, deterministic kernels).
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    train = [load(os.path.join(data, f"lab-{s}")) for s in (1, 2, 3, 4)]
    val_x, val_y, meta = load(os.path.join(data, "lab-5"))
    test_x, test_y, _ = load(os.path.join(data, "lab-6"))
    iot_x, iot_y, _ = load(os.path.join(data, "iot23"))
    half = len(iot_x) // 2
    steps, features = meta["sequence_length"], len(meta["features"])
    split = devices(data)
    dev = {name: load_sources(os.path.join(data, f"iot-{name}")) for names in split.values() for name in names}
    tools_x, tools_y, tools_src = load_sources(os.path.join(data, "tools"))
    real_benign = [dev[n] for n in split["train"]]
    xs = np.concatenate([t[0] for t in train] + [iot_x[:half], tools_x] + [d[0] for d in real_benign])
    ys = np.concatenate([t[1] for t in train] + [iot_y[:half], tools_y] + [d[1] for d in real_benign])
    # Real devices' and real clients' benign traffic counts for more than the lab's: it
    # is what the model got wrong.
    real_rows = sum(len(d[0]) for d in real_benign) + len(tools_x)
    boost = np.ones(len(xs), np.float32)
    boost[len(xs) - real_rows:] = np.where(ys[len(xs) - real_rows:] == 0, REAL_BENIGN_WEIGHT, 1.0)

    real = xs[xs[..., 0] > 0.5]
    mean, std = real.mean(0), real.std(0)
    std = np.where(std < 1e-3, 1.0, std)
    mean[0], std[0] = 0.0, 1.0  # present: 1 for real rows, 0 for padding
    mean, std = mean.astype(np.float32), std.astype(np.float32)
    n = lambda x: normalise(x, mean, std)  # noqa: E731

    counts = np.bincount(ys, minlength=len(CLASSES)).astype(np.float64)
    weights = {k: float(np.sqrt(counts.max() / max(c, 1))) for k, c in enumerate(counts)}
    print("training samples by class", dict(zip(CLASSES, counts.astype(int))), "weights", weights)

    inp = keras.Input((steps, features), name="input")
    if CELL == "gru":
        h = keras.layers.GRU(HIDDEN, reset_after=True, name="gru")(inp)
    else:
        h = keras.layers.LSTM(HIDDEN, name="lstm")(inp)
    h = keras.layers.Dense(16, activation="relu", name="hidden")(h)
    out = keras.layers.Dense(len(CLASSES), activation="softmax", name="classes")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    sample_w = boost * np.array([weights[int(c)] for c in ys], np.float32)
    model.fit(n(xs), ys, sample_weight=sample_w, validation_data=(n(val_x), val_y),
              epochs=EPOCHS, batch_size=256, verbose=2, shuffle=True,
              callbacks=[keras.callbacks.EarlyStopping(patience=4, restore_best_weights=True)]
              if EARLY_STOP else [])

    # Calibration on data never trained on: the synthetic validation network and the
    # calibration devices. Temperature first (fit of the probabilities), then an offset
    # on the benign logit chosen for the false-positive goal: no calibration device
    # decided at the policy's 0.60, with the smallest offset that does it.
    logits_model = keras.Model(inp, model.get_layer("classes").output)
    W, b = model.get_layer("classes").get_weights()
    hidden_model = keras.Model(inp, model.get_layer("hidden").output)

    def logits(x, temp=1.0, offset=0.0):
        z = (hidden_model.predict(n(x), verbose=0) @ W + b) / temp
        z[:, 0] += offset
        return z

    def softmax(z):
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    cal = [dev[name] for name in split["calibrate"]]
    cal_x = np.concatenate([val_x] + [d[0] for d in cal])
    cal_y = np.concatenate([val_y] + [d[1] for d in cal])
    z_cal = logits(cal_x)
    best_t, best_nll = 1.0, float("inf")
    for temp in np.arange(0.5, 5.01, 0.05):
        p = softmax(z_cal / temp)
        nll = -np.log(p[np.arange(len(cal_y)), cal_y] + 1e-12).mean()
        if nll < best_nll:
            best_t, best_nll = float(temp), float(nll)
    offset = 0.0
    for offset in np.arange(0.0, 8.01, 0.1):
        decided = 0
        for x_d, _, src_d in cal:
            conf = 1.0 - softmax(logits(x_d, best_t, offset))[:, 0]
            decided += len(decided_sources(conf, src_d, 0.60))
        if decided == 0:
            break
    offset = float(offset)
    print(f"calibration: temperature {best_t:.2f} (nll {best_nll:.4f}), benign offset {offset:.1f}")
    model.get_layer("classes").set_weights([W / best_t, b / best_t + np.eye(len(CLASSES))[0] * offset])

    os.makedirs(OUT, exist_ok=True)
    onnx_path = os.path.join(OUT, "seq-lstm.onnx")
    export_onnx(model, onnx_path, steps, features)
    def device_fp(names):
        total, decided, flagged, samples, which = 0, 0, 0, 0, []
        for name in names:
            x_d, _, src_d = dev[name]
            conf = 1.0 - model.predict(n(x_d), verbose=0)[:, 0]
            sources = set(src_d)
            got = decided_sources(conf, src_d, 0.60)
            total += len(sources)
            decided += len(got)
            flagged += int((conf >= 0.60).sum())
            samples += len(conf)
            which += [f"{name} {s}" for s in sorted(got)]
        return {"devices": names, "sources": total, "sources_decided": decided,
                "decided": which, "samples": samples, "samples_flagged": flagged}

    tools_probs = model.predict(n(tools_x), verbose=0)
    results = {
        "calibration": {"temperature": best_t, "benign_logit_offset": offset,
                        "devices": split["calibrate"]},
        "held_out_devices": device_fp(split["test"]),
        "calibration_devices": device_fp(split["calibrate"]),
        "training_devices": device_fp(split["train"]),
        "real_tool_lab_trained_on": metrics(tools_y, tools_probs, CLASSES),
        "held_out_lab": metrics(test_y, model.predict(n(test_x), verbose=0), CLASSES),
        "iot23_unseen_second_half": metrics(iot_y[half:], model.predict(n(iot_x[half:]), verbose=0), CLASSES),
        "training": {"samples": int(len(xs)), "by_class": dict(zip(CLASSES, counts.astype(int).tolist()))},
    }
    for key, name, sl in (("held_out_lab", "lab-6-seed", slice(None)),
                          ("iot23_unseen_second_half", "iot23-seed", slice(half, None))):
        got = seed_model_numbers(data, name)
        if got:
            x, y, probs = got
            results[key]["seed_model_binary"] = binary(y[sl] != 0, (1.0 - probs[sl, 0]) >= 0.60)
    json.dump(results, open(os.path.join(OUT, "metrics.json"), "w"), indent=2)

    # Reference vectors: held-out samples of every class, a new source (one real step),
    # and all padding; the training framework's outputs for them.
    rng = np.random.default_rng(SEED)
    picks = []
    for k in range(len(CLASSES)):
        idx = np.flatnonzero(test_y == k)
        picks += list(rng.choice(idx, size=min(12, len(idx)), replace=False))
    ref_x = n(test_x[picks])
    ref_x = np.concatenate([ref_x, n(iot_x[half:half + 8]), np.zeros((1, steps, features), np.float32)])
    ref_y = model.predict(ref_x, verbose=0)
    json.dump({
        "about": "Inputs (normalised, as the model takes them) and tf-keras outputs, written "
                 "at export by models/seq-lstm/train.py; core/tests/models.rs checks tract "
                 "against them.",
        "framework": f"tf-keras {keras.__version__}, tensorflow {tf.__version__}",
        "shape": [steps, features],
        "inputs": ref_x.reshape(len(ref_x), -1).round(7).tolist(),
        "outputs": ref_y.tolist(),
    }, open(os.path.join(OUT, "reference.json"), "w"))

    meta_out = {
        "name": "suriguard-seq-lstm",
        "version": "2",
        "format": "onnx",
        "extractor": "flow-seq-v1",
        "sequence-length": steps,
        "features": meta["features"],
        "normalisation": {"mean": [float(v) for v in mean], "std": [float(v) for v in std]},
        "output": "probabilities",
        "classes": CLASSES,
        "benign-class": "benign",
        "about": {
            "architecture": f"{CELL.upper()}({HIDDEN}) over the last {steps} flows of a source -> Dense(16, relu) -> Dense({len(CLASSES)}, softmax)",
            "training": "models/seq-lstm/train.py on models/seq-lstm/make-data.sh and make-real-data.sh (synthetic lab, IoT-23, real IoT devices held out whole, the real-tool lab); temperature and benign offset folded into the last layer; see MODEL_CARD.md",
            "framework": f"tf-keras {keras.__version__}",
        },
    }
    with open(os.path.join(OUT, "seq-lstm.meta.json"), "w") as f:
        json.dump(meta_out, f, indent=2)
        f.write("\n")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
