"""Step 2 of tools/onnx/make_fixtures.sh: checks rustnn's ONNX files with
independent implementations and writes the fixtures of test-onnx.R.

    make_fixtures.py WORK OUT

WORK holds what tools/onnx/export_models.R wrote: NAME.onnx, NAME.input.f32
(the inputs, row-major float32) and cases.csv (NAME,dims). For each model:
the onnx checker (full_check, with shape inference) must accept the file,
ONNX Runtime runs it on the inputs, and its outputs go to OUT/NAME.f32
(row-major float32). Then a small PyTorch CNN (Linear, ReLU, Conv2d,
MaxPool2d, Flatten, Softmax) is exported with torch.onnx.export to
OUT/torch_cnn.onnx, and PyTorch's outputs on the inputs of the recipe in
tests/testthat/helper-onnx.R (onnx_inputs()) go to OUT/torch_cnn.f32.
OUT/checks.txt records every check and the versions used.
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import torch

work, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
log = []


def say(line):
    print(line)
    log.append(line)


def recipe(n, shape):
    """onnx_inputs() of helper-onnx.R: sin(0.0137 (i+1)(j+1) + 0.71 (j+1))."""
    size = int(np.prod(shape))
    i = np.arange(1, n + 1, dtype=np.float64)[:, None]
    j = np.arange(1, size + 1, dtype=np.float64)[None, :]
    x = np.sin(0.0137 * i * j + 0.71 * j).astype(np.float32)
    return x.reshape((n,) + tuple(shape))


def run(path, x):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    assert len(inputs) == 1 and len(session.get_outputs()) == 1
    return session.run(None, {inputs[0].name: x})[0]


say(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, torch {torch.__version__}, numpy {np.__version__}")

# rustnn's files: checker, then ONNX Runtime's outputs.
with open(os.path.join(work, "cases.csv")) as f:
    cases = [line.strip().split(",") for line in f if line.strip()]
for name, dims in cases:
    path = os.path.join(work, name + ".onnx")
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    shape = tuple(int(d) for d in dims.split("x"))
    x = np.fromfile(os.path.join(work, name + ".input.f32"), dtype="<f4").reshape(shape)
    if x.ndim == 3:  # one channel: n x h x w in R
        x = x[:, None, :, :]
    y = run(path, x)
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    y.astype("<f4").tofile(os.path.join(out, name + ".f32"))
    ops = sorted({n.op_type for n in model.graph.node})
    say(f"{name}: onnx checker (full_check) accepts it (IR {model.ir_version}, opset "
        f"{model.opset_import[0].version}; {', '.join(ops)}); ONNX Runtime: {y.shape[0]} x "
        f"{int(np.prod(y.shape[1:]))} outputs")

# A model trained elsewhere: PyTorch, exported by torch.onnx.export.
torch.manual_seed(0)
net = torch.nn.Sequential(
    torch.nn.Conv2d(1, 4, 3, padding=1),
    torch.nn.ReLU(),
    torch.nn.MaxPool2d(2),
    torch.nn.Flatten(),
    torch.nn.Linear(4 * 4 * 4, 16),
    torch.nn.ReLU(),
    torch.nn.Linear(16, 5),
    torch.nn.Softmax(dim=1),
).eval()
x = recipe(1000, (1, 8, 8))
with torch.no_grad():
    want = net(torch.from_numpy(x)).numpy()
path = os.path.join(out, "torch_cnn.onnx")
torch.onnx.export(net, (torch.from_numpy(x[:2]),), path, input_names=["x"], output_names=["probs"],
                  dynamic_axes={"x": {0: "batch"}, "probs": {0: "batch"}}, opset_version=17,
                  dynamo=False)
model = onnx.load(path)
onnx.checker.check_model(model, full_check=True)
got = run(path, x)
ops = [n.op_type for n in model.graph.node]
say(f"torch_cnn: torch.onnx.export (opset 17) wrote {os.path.getsize(path)} bytes: {', '.join(ops)}; "
    f"onnx checker accepts it; ONNX Runtime vs PyTorch: max abs difference "
    f"{float(np.max(np.abs(got - want))):.3g}")
want.astype("<f4").tofile(os.path.join(out, "torch_cnn.f32"))

with open(os.path.join(out, "checks.txt"), "w") as f:
    f.write("# Written by tools/onnx/make_fixtures.sh: what was checked, with what.\n")
    f.write("\n".join(log) + "\n")
