# PyTorch's side of bench/bench_scaling.R's predict() throughput: inference
# (torch.no_grad(), float32, CPU) with the framework benchmark's W4 MLP
# (784-100 sigmoid-10 softmax) and W6 CNN (conv 3x3x16, ReLU, max-pool 2,
# flatten, linear 2704-10, softmax), randomly initialised (PyTorch's default
# init; inference time does not depend on the weights), on --n random
# inputs (uniform in [0, 1): 10,000 x 784 for the MLP, 10,000 x 1 x 28 x 28
# for the CNN) passed as one batch, as the framework benchmark evaluates.
# After one warm-up call, each model's time is the median of --runs calls.
#
#   .build/bench-venv/bin/python bench/bench_predict.py [--threads=2] [--runs=5] [--n=10000]
#
# Prints CSV to standard output: model (W4_mlp, W6_cnn), threads, n,
# seconds (the median), images_per_sec, torch (version).
import argparse
import statistics
import time

import torch
from torch import nn

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--n", type=int, default=10000)
args = parser.parse_args()

torch.set_num_threads(args.threads)
torch.manual_seed(1)
models = {
    "W4_mlp": (nn.Sequential(nn.Linear(784, 100), nn.Sigmoid(), nn.Linear(100, 10),
                             nn.Softmax(dim=1)),
               torch.rand(args.n, 784)),
    "W6_cnn": (nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(2704, 10), nn.Softmax(dim=1)),
               torch.rand(args.n, 1, 28, 28)),
}

print("model,threads,n,seconds,images_per_sec,torch")
for name, (net, x) in models.items():
    net.eval()
    times = []
    with torch.no_grad():
        net(x)  # warm-up
        for _ in range(args.runs):
            start = time.perf_counter()
            out = net(x)
            times.append(time.perf_counter() - start)
    assert out.shape == (args.n, 10)
    s = statistics.median(times)
    print(f"{name},{args.threads},{args.n},{s:.6g},{args.n / s:.0f},{torch.__version__}",
          flush=True)
