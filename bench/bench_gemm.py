# The NumPy/OpenBLAS half of the GEMM microbenchmark (bench/bench_gemm.sh),
# and its report.
#
# Timing: OpenBLAS's sgemm through np.matmul(a, b, out=c) on float32
# C-contiguous arrays (uniform random values), at the given m,k,n shapes,
# with OPENBLAS_NUM_THREADS set to --threads before NumPy is imported (so one
# process per thread count). Like rustnn's src/rust/core/examples/gemm.rs:
# each round repeats the product until ~0.3 s (2 m k n flops per product),
# the best of 5 rounds is reported. Prints CSV to standard output:
# m,k,n,threads,seconds,gflops.
#
#   .build/bench-venv/bin/python bench/bench_gemm.py --threads=1 128,128,128 ...
#
# Report: combines the long CSV (tool,m,k,n,threads,seconds,gflops) that
# bench_gemm.sh wrote into a markdown table (one row per shape and thread
# count: rustnn and OpenBLAS GFLOP/s and their ratio) with a header (date,
# CPU, NumPy version, OpenBLAS build and runtime kernel), written to OUT.md.
#
#   .build/bench-venv/bin/python bench/bench_gemm.py --report=RESULTS.csv \
#     --out=OUT.md [--date=YYYY-MM-DD] [--command="bench/bench_gemm.sh"]
import argparse
import os
import subprocess
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--report", help="long CSV of both tools: write the markdown report")
parser.add_argument("--out", help="markdown file of --report")
parser.add_argument("--date", default=time.strftime("%Y-%m-%d"))
parser.add_argument("--command", default="bench/bench_gemm.sh")
parser.add_argument("shapes", nargs="*", default=["128,128,128", "512,512,512", "2048,2048,2048"])
args = parser.parse_args()

# Before NumPy loads OpenBLAS, which reads it once.
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
import numpy as np  # noqa: E402


def openblas_runtime():
    """(kernel, threads) of the OpenBLAS NumPy loaded, or (None, None)."""
    import ctypes

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
        lib = ctypes.CDLL(paths[0])
    except (OSError, IndexError):
        return None, None
    kernel = threads = None
    for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", ""), ("openblas", "64_")):
        try:
            corename = getattr(lib, f"{prefix}_get_corename{suffix}")
            get_threads = getattr(lib, f"{prefix}_get_num_threads{suffix}")
        except AttributeError:
            continue
        corename.restype = ctypes.c_char_p
        kernel, threads = corename().decode(), get_threads()
        break
    return kernel, threads


def time_one(m, k, n, rng):
    a = rng.random((m, k), dtype=np.float32)
    b = rng.random((k, n), dtype=np.float32)
    c = np.zeros((m, n), dtype=np.float32)
    flops = 2.0 * m * k * n
    reps = min(max(int(3e8 / flops), 1), 100_000)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=c)
        best = min(best, (time.perf_counter() - start) / reps)
    return best


def timing():
    kernel, threads = openblas_runtime()
    if threads is not None and threads != args.threads:
        sys.exit(f"bench_gemm.py: OpenBLAS runs {threads} threads, not {args.threads}")
    rng = np.random.default_rng(1)
    print("m,k,n,threads,seconds,gflops")
    for shape in args.shapes:
        m, k, n = (int(v) for v in shape.split(","))
        s = time_one(m, k, n, rng)
        print(f"{m},{k},{n},{args.threads},{s:.6e},{2.0 * m * k * n / s / 1e9:.1f}", flush=True)


# Where the shapes come from (framework workloads of bench/frameworks-workloads.csv).
LABELS = {
    (32, 784, 100): "W4 forward (784-100, batch 32)",
    (784, 32, 100): "W4 weight gradient",
    (128, 784, 512): "W5 forward (784-512, batch 128)",
    (784, 128, 512): "W5 weight gradient",
    (128, 512, 10): "W5 output layer (512-10)",
}


def report():
    import csv

    with open(args.report) as f:
        rows = list(csv.DictReader(f))
    gflops = {(r["tool"], int(r["m"]), int(r["k"]), int(r["n"]), int(r["threads"])):
              float(r["gflops"]) for r in rows}
    shapes, keys = [], set()  # shapes in the order run, then thread counts
    for r in rows:
        shape = (int(r["m"]), int(r["k"]), int(r["n"]))
        if shape not in shapes:
            shapes.append(shape)
        keys.add(shape + (int(r["threads"]),))
    keys = sorted(keys, key=lambda x: (shapes.index(x[:3]), x[3]))
    cpu = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                   if line.startswith("Model name"))
    except (OSError, StopIteration):
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        build = blas.get("openblas configuration") or f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no mode="dicts"
        build = None
    kernel, _ = openblas_runtime()
    try:
        import threadpoolctl

        info = [i for i in threadpoolctl.threadpool_info() if i.get("internal_api") == "openblas"]
        if info:
            kernel = f"{info[0].get('architecture')} (threadpoolctl)"
    except ImportError:
        pass
    peak = gflops.get(("openblas", 2048, 2048, 2048, 2))
    lines = [
        f"# GEMM microbenchmark: rustnn vs OpenBLAS sgemm ({args.date})",
        "",
        f"- Date: {args.date}",
        f"- CPU: {cpu} ({os.cpu_count()} logical CPUs)",
        f"- NumPy {np.__version__}" + (f"; OpenBLAS build: `{build}`" if build else "")
        + (f"; runtime kernel: {kernel}" if kernel else ""),
        f"- Command: `{args.command}`",
        "- float32, C = A B with A m x k and B k x n, all row-major; GFLOP/s = 2 m k n / "
        "seconds / 1e9, best of 5 rounds of ~0.3 s each. rustnn: "
        "`src/rust/core/examples/gemm.rs` (the matmul every dense and convolution layer "
        "calls); OpenBLAS: `np.matmul(a, b, out=c)` (bench/bench_gemm.py), "
        "OPENBLAS_NUM_THREADS = threads.",
        "",
        "**sgemm peak (this run): "
        + (f"{peak:.1f} GFLOP/s** (OpenBLAS, 2 threads, 2048 x 2048 x 2048)" if peak
           else "not measured** (no 2-thread 2048 x 2048 x 2048 OpenBLAS result)"),
        "",
        "| shape | m | k | n | threads | rustnn GFLOP/s | OpenBLAS GFLOP/s | rustnn / OpenBLAS |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for m, k, n, t in keys:
        r = gflops.get(("rustnn", m, k, n, t))
        o = gflops.get(("openblas", m, k, n, t))
        fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
        ratio = f"{r / o:.2f}" if r and o else "–"
        label = LABELS.get((m, k, n), f"square {m}" if m == k == n else "")
        lines.append(f"| {label} | {m} | {k} | {n} | {t} | {fmt(r)} | {fmt(o)} | {ratio} |")
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if args.report:
    if not args.out:
        sys.exit("bench_gemm.py: --report needs --out=FILE.md")
    report()
else:
    timing()
