"""numpy's float32 matmul (OpenBLAS) at the shapes of `cargo xtask bench matmul`.

Usage (xtask runs it, once per thread count; OpenBLAS reads its thread count
from the environment when numpy is imported, and threadpoolctl enforces it
too when installed):

    OPENBLAS_NUM_THREADS=N python matmul_numpy.py --threads N --shapes JSON [--quick]

JSON is a list of [m, k, n, trans_a, trans_b]. A transposed operand is stored
transposed and passed as `x.T`, which numpy hands to BLAS as a transpose flag,
without a copy, just as our GEMM reads it. Prints a JSON list of
{m, k, n, trans_a, trans_b, threads, gflops} on stdout; a missing numpy prints
{"skipped": "..."} and exits 0.
"""

import argparse
import contextlib
import json
import sys
import time


def median_seconds(f, warmup, runs):
    for _ in range(warmup):
        f()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--shapes", required=True)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    try:
        import numpy as np
    except ImportError as e:
        print(json.dumps({"skipped": f"numpy is not installed ({e})"}))
        return
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=args.threads, user_api="blas")
    except ImportError:
        limits = contextlib.nullcontext()

    rng = np.random.default_rng(0)
    rows = []
    with limits:
        for m, k, n, trans_a, trans_b in json.loads(args.shapes):
            a = rng.uniform(-1, 1, (k, m) if trans_a else (m, k)).astype(np.float32)
            b = rng.uniform(-1, 1, (n, k) if trans_b else (k, n)).astype(np.float32)
            op_a = a.T if trans_a else a
            op_b = b.T if trans_b else b
            c = np.empty((m, n), dtype=np.float32)
            flops = 2.0 * m * n * k
            # Enough calls per sample that one sample takes ~10 ms.
            start = time.perf_counter()
            np.matmul(op_a, op_b, out=c)
            once = max(time.perf_counter() - start, 1e-7)
            calls = max(1, int(0.01 / once))

            def sample():
                for _ in range(calls):
                    np.matmul(op_a, op_b, out=c)

            runs = 3 if args.quick else 11
            seconds = median_seconds(sample, 2, runs) / calls
            rows.append(
                {
                    "m": m,
                    "k": k,
                    "n": n,
                    "trans_a": bool(trans_a),
                    "trans_b": bool(trans_b),
                    "threads": args.threads,
                    "gflops": flops / seconds / 1e9,
                    "numpy": np.__version__,
                }
            )
    json.dump(rows, sys.stdout)
    print()


if __name__ == "__main__":
    main()
