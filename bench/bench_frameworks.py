#!/usr/bin/env python3
"""The Python half of the framework benchmark (bench/run_frameworks.sh).

Times the seven workloads of bench/frameworks-workloads.csv (W1 XOR ... W7
synthetic) with one framework per process:

  pytorch  an idiomatic eager loop: every epoch a torch.randperm() order,
           mini-batches by tensor indexing (no DataLoader), zero_grad /
           backward / step; torch.set_num_threads(THREADS); float32.
           Sigmoid and softmax outputs are fused into the loss as PyTorch
           code does it (BCEWithLogitsLoss, CrossEntropyLoss on logits);
           rustnn fuses them the same way during fit().
  keras    Keras 3 on TensorFlow (CPU): model.fit(x, y, epochs=,
           batch_size=, verbose=0), shuffling on (the default); TensorFlow's
           intra- and inter-op thread pools set to THREADS before any op;
           float32. The timed fit() includes tracing the training function.

Both keep their own default weight initialization and optimizer defaults
(only the learning rate is set): RMSprop is rho/alpha 0.99, eps 1e-8 in
PyTorch (as rustnn) but rho 0.9, eps 1e-7 in Keras; Adam's eps is 1e-8 in
PyTorch (as rustnn) and 1e-7 in Keras.

Data: the CSV files bench/export_data.R wrote (--data, default bench/data),
and Fashion-MNIST read from its IDX files (gzipped or not) in the directory
of the FASHION_MNIST_PATH environment variable, by default
/usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist).

Each timing is the median of --runs fits (seeds 1, 2, 3, ...), each from a
fresh model, reported as seconds per epoch (the fit's wall time / epochs);
the accuracy is the median over the same runs, computed after the timed fit.
A fit that takes longer than --max-repeat-seconds (default 60) is not
repeated: its one run gives the time and accuracy, and the note says so
(Keras's W1 and W2, whose thousands of tiny epochs cost ~25 ms each in
fit()'s per-epoch machinery).

Run with the benchmark's virtualenv (bench/setup_python.sh), from the
package root:
  .build/bench-venv/bin/python bench/bench_frameworks.py --tool pytorch \\
      [--workloads W1,...,W7] [--runs 3] [--threads 2] [--data bench/data] \\
      [--max-repeat-seconds 60] [--out FILE]
  .build/bench-venv/bin/python bench/bench_frameworks.py --versions FILE

Writes FILE (default: standard output) as CSV with columns workload,
description, tool, threads, sec_per_epoch, accuracy, note, run_seconds (the
individual fit times, separated by ";"). --versions writes key,value rows
for python, torch, tensorflow, keras and numpy and exits.
"""

import argparse
import csv
import gzip
import os
import platform
import statistics
import sys
import time
from importlib import metadata

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["workload", "description", "tool", "threads", "sec_per_epoch", "accuracy",
           "note", "run_seconds"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tool", choices=["pytorch", "keras"])
    p.add_argument("--workloads", default="W1,W2,W3,W4,W5,W6,W7")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-repeat-seconds", type=float, default=60,
                   help="a fit taking longer than this is not repeated (one run only)")
    p.add_argument("--data", default=os.path.join(BENCH_DIR, "data"))
    p.add_argument("--out", default="")
    p.add_argument("--versions", default="", help="write the package versions to this file and exit")
    args = p.parse_args()
    if not args.versions and not args.tool:
        p.error("give --tool or --versions")
    return args


def write_versions(path):
    rows = [("python", platform.python_version())]
    for key, dist in [("torch", "torch"), ("tensorflow", "tensorflow-cpu"),
                      ("keras", "keras"), ("numpy", "numpy")]:
        try:
            rows.append((key, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            rows.append((key, "not installed"))
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key", "value"])
        w.writerows(rows)


# ---------------------------------------------------------------- data

def read_csv(data_dir, name):
    """A CSV of numbers as (column names, float64 array)."""
    import numpy as np
    with open(os.path.join(data_dir, name + ".csv"), newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array(rows[1:], dtype=np.float64)


def read_idx(path):
    """An IDX file (gzipped or not, recognised by its first bytes) as an array."""
    import numpy as np
    with open(path, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path} is not an IDX file")
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    dtype = np.dtype(types[raw[2]])
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist():
    """Fashion-MNIST as float32 images in [0, 1] (n x 28 x 28) and int64 labels."""
    import numpy as np
    directory = os.environ.get("FASHION_MNIST_PATH", "/usr/share/datasets/fashion-mnist")

    def find(name):
        for candidate in (name + ".gz", name):
            path = os.path.join(directory, candidate)
            if os.path.exists(path):
                return path
        sys.exit(f"Fashion-MNIST file {name}(.gz) not found in {directory}; "
                 "set FASHION_MNIST_PATH (Debian: apt-get install dataset-fashion-mnist)")

    def images(name):
        return read_idx(find(name)).astype(np.float32) / np.float32(255)

    def labels(name):
        return read_idx(find(name)).astype(np.int64)

    return (images("train-images-idx3-ubyte"), labels("train-labels-idx1-ubyte"),
            images("t10k-images-idx3-ubyte"), labels("t10k-labels-idx1-ubyte"))


def load_data(wid, data_dir, cache={}):
    """Workload data as numpy: x, y (targets as the losses take them), eval_x,
    eval_label (0-based classes, or 0/1). Images stay n x 28 x 28 (W6); the
    MLPs get them flattened."""
    import numpy as np
    f32 = np.float32
    if wid == "W1":
        _, d = read_csv(data_dir, "xor")
        x, y = d[:, :2].astype(f32), d[:, 2:4].astype(f32)
        return dict(x=x, y=y, eval_x=x, eval_label=y.argmax(1))
    if wid == "W2":
        _, tr = read_csv(data_dir, "planar_train")
        _, te = read_csv(data_dir, "planar_test")
        return dict(x=tr[:, :2].astype(f32), y=tr[:, 2:3].astype(f32),
                    eval_x=te[:, :2].astype(f32), eval_label=te[:, 2].astype(np.int64))
    if wid == "W3":
        _, d = read_csv(data_dir, "iris")
        x, label = d[:, :4].astype(f32), d[:, 4].astype(np.int64)
        return dict(x=x, y=label, eval_x=x, eval_label=label)
    if wid == "W7":
        _, d = read_csv(data_dir, "synthetic")
        x = d[:, :20].astype(f32)
        return dict(x=x, y=d[:, 20:21].astype(f32), eval_x=x,
                    eval_label=d[:, 20].astype(np.int64))
    if "fmnist" not in cache:
        cache["fmnist"] = fashion_mnist()
    x_train, y_train, x_test, y_test = cache["fmnist"]
    if wid in ("W4", "W5"):
        return dict(x=x_train.reshape(-1, 784), y=y_train, eval_x=x_test.reshape(-1, 784),
                    eval_label=y_test)
    if wid == "W6":
        return dict(x=x_train[:10000], y=y_train[:10000], eval_x=x_test, eval_label=y_test)
    raise ValueError(wid)


def read_specs():
    with open(os.path.join(BENCH_DIR, "frameworks-workloads.csv"), newline="") as f:
        lines = (line for line in f if not line.startswith("#"))
        specs = {row["workload"]: row for row in csv.DictReader(lines)}
    for s in specs.values():
        s["epochs"] = int(s["epochs"])
        s["batch_size"] = int(s["batch_size"])
        s["lr"] = float(s["lr"])
    return specs


def accuracy(out, label, threshold):
    """Accuracy of a numpy array of outputs against 0-based labels: argmax
    for several columns, out > threshold for one."""
    import numpy as np
    pred = (out[:, 0] > threshold).astype(np.int64) if out.shape[1] == 1 else out.argmax(1)
    return float(np.mean(pred == label))


# ---------------------------------------------------------------- PyTorch

def pytorch_runner(threads):
    import numpy as np
    import torch
    from torch import nn
    torch.set_num_threads(threads)

    def model(wid):
        # Sigmoid/softmax outputs are left to the fused losses below.
        return {
            "W1": lambda: nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 2)),
            "W2": lambda: nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1)),
            "W3": lambda: nn.Sequential(nn.Linear(4, 40), nn.Sigmoid(), nn.Linear(40, 3)),
            "W4": lambda: nn.Sequential(nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10)),
            "W5": lambda: nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 10)),
            "W6": lambda: nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
                                        nn.Flatten(), nn.Linear(2704, 10)),
            "W7": lambda: nn.Sequential(nn.Linear(20, 10), nn.Sigmoid(), nn.Linear(10, 1)),
        }[wid]()

    def loss_fn(name):
        if name == "sse":
            return lambda out, y: ((out - y) ** 2).sum()
        return {"bce": nn.BCEWithLogitsLoss(), "cross_entropy": nn.CrossEntropyLoss()}[name]

    def optimizer(spec, params):
        # PyTorch's defaults apart from lr: RMSprop alpha 0.99, eps 1e-8; Adam eps 1e-8.
        return {"sgd": torch.optim.SGD, "rmsprop": torch.optim.RMSprop,
                "adam": torch.optim.Adam}[spec["optimizer"]](params, lr=spec["lr"])

    def prepare(wid, d):
        t = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in d.items()}
        if wid == "W6":  # n x 1 x 28 x 28
            t["x"] = t["x"].unsqueeze(1)
            t["eval_x"] = t["eval_x"].unsqueeze(1)
        return t

    def run(wid, spec, t, seed):
        torch.manual_seed(seed)
        net = model(wid)
        opt = optimizer(spec, net.parameters())
        loss = loss_fn(spec["loss"])
        x, y = t["x"], t["y"]
        n, bs = x.shape[0], spec["batch_size"]
        start = time.perf_counter()
        for _ in range(spec["epochs"]):
            perm = torch.randperm(n)
            for i in range(0, n, bs):
                idx = perm[i:i + bs]
                opt.zero_grad()
                loss(net(x[idx]), y[idx]).backward()
                opt.step()
        seconds = time.perf_counter() - start
        with torch.no_grad():
            out = net(t["eval_x"]).numpy()
        # One column: logits of a sigmoid output, positive for class 1.
        return seconds, accuracy(out, t["eval_label"].numpy(), threshold=0.0)

    notes = {}
    return prepare, run, notes


# ---------------------------------------------------------------- Keras

def keras_runner(threads):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import numpy as np
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")  # no retracing warnings from each new model's predict()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    import keras
    from keras import layers, ops
    if keras.backend.backend() != "tensorflow":
        sys.exit("KERAS_BACKEND must be tensorflow")

    class SumSquaredError(keras.losses.Loss):
        """Tutorial 001's total squared error: summed over outputs and rows."""

        def __init__(self):
            super().__init__(name="sse", reduction="sum")

        def call(self, y_true, y_pred):
            return ops.sum(ops.square(y_true - y_pred), axis=-1)

    def model(wid):
        dense = layers.Dense
        stacks = {
            "W1": ((2,), [dense(2, activation="tanh"), dense(2)]),
            "W2": ((2,), [dense(4, activation="tanh"), dense(1, activation="sigmoid")]),
            "W3": ((4,), [dense(40, activation="sigmoid"), dense(3, activation="softmax")]),
            "W4": ((784,), [dense(100, activation="sigmoid"), dense(10, activation="softmax")]),
            "W5": ((784,), [dense(512, activation="relu"), dense(10, activation="softmax")]),
            "W6": ((28, 28, 1), [layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                                 layers.Flatten(), dense(10, activation="softmax")]),
            "W7": ((20,), [dense(10, activation="sigmoid"), dense(1, activation="sigmoid")]),
        }
        shape, stack = stacks[wid]
        return keras.Sequential([keras.Input(shape)] + stack)

    def loss_fn(name):
        # Integer labels with sparse categorical cross-entropy: the same loss
        # as one-hot categorical cross-entropy.
        return {"sse": SumSquaredError(), "bce": "binary_crossentropy",
                "cross_entropy": "sparse_categorical_crossentropy"}[name]

    def optimizer(spec):
        # Keras's defaults apart from learning_rate: RMSprop rho 0.9, eps 1e-7;
        # Adam eps 1e-7.
        return {"sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop,
                "adam": keras.optimizers.Adam}[spec["optimizer"]](learning_rate=spec["lr"])

    def prepare(wid, d):
        d = dict(d)
        if wid == "W6":  # channels last: n x 28 x 28 x 1
            d["x"] = d["x"][..., None]
            d["eval_x"] = d["eval_x"][..., None]
        return d

    def run(wid, spec, d, seed):
        keras.utils.set_random_seed(seed)
        net = model(wid)
        net.compile(optimizer=optimizer(spec), loss=loss_fn(spec["loss"]))
        start = time.perf_counter()
        net.fit(d["x"], d["y"], epochs=spec["epochs"], batch_size=spec["batch_size"],
                verbose=0)
        seconds = time.perf_counter() - start
        out = net.predict(d["eval_x"], batch_size=1000, verbose=0)
        keras.backend.clear_session()
        return seconds, accuracy(out, d["eval_label"], threshold=0.5)

    notes = {
        "rmsprop": "Keras RMSprop defaults rho 0.9, eps 1e-7 (rustnn, PyTorch: 0.99, 1e-8)",
        "adam": "Keras Adam default eps 1e-7 (rustnn, PyTorch: 1e-8)",
    }
    return prepare, run, notes


# ---------------------------------------------------------------- main

def main():
    args = parse_args()
    if args.versions:
        write_versions(args.versions)
        return
    # Limit every thread pool (OpenMP, MKL, OpenBLAS, numpy) before importing
    # the libraries that read these.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    specs = read_specs()
    wanted = args.workloads.split(",")
    unknown = [w for w in wanted if w not in specs]
    if unknown:
        sys.exit(f"unknown workloads: {unknown}")
    prepare, run, notes = (pytorch_runner if args.tool == "pytorch" else keras_runner)(args.threads)

    rows = []
    for wid in wanted:
        spec = specs[wid]
        data = prepare(wid, load_data(wid, args.data))
        results = [run(wid, spec, data, 1)]
        note = notes.get(spec["optimizer"], "")
        if args.runs > 1 and results[0][0] > args.max_repeat_seconds:
            note = "; ".join(filter(None, [note, f"one run only: a fit takes {results[0][0]:.0f} s "
                                                  f"(over {args.max_repeat_seconds:g} s)"]))
        else:
            results += [run(wid, spec, data, seed) for seed in range(2, args.runs + 1)]
        seconds = [r[0] for r in results]
        row = dict(workload=wid, description=spec["description"], tool=args.tool,
                   threads=args.threads,
                   sec_per_epoch=float(f"{statistics.median(seconds) / spec['epochs']:.4g}"),
                   accuracy=round(statistics.median(r[1] for r in results), 4),
                   note=note,
                   run_seconds=";".join(f"{s:.4g}" for s in seconds))
        rows.append(row)
        print(f"{wid} {args.tool:<8} {row['sec_per_epoch']:.3g} s/epoch  accuracy "
              f"{row['accuracy']:.4f}  (fits: {row['run_seconds']} s)", file=sys.stderr, flush=True)

    out = open(args.out, "w", newline="") if args.out else sys.stdout
    w = csv.DictWriter(out, fieldnames=COLUMNS)
    w.writeheader()
    w.writerows(rows)
    if args.out:
        out.close()


if __name__ == "__main__":
    main()
