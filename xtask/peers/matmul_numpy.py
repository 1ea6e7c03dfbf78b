"""numpy's float32 matmul (OpenBLAS), measured on request by `cargo xtask bench matmul`.

xtask starts one of these per thread count and keeps it running, so that it
can alternate rounds of our GEMM and of numpy's at each shape, each round
visiting every shape: a slow moment of the machine then falls on both sides,
not on whichever ran during it.

    OPENBLAS_NUM_THREADS=N python matmul_numpy.py --threads N

OpenBLAS reads its thread count from the environment when numpy is imported;
threadpoolctl enforces it too when installed. The script first prints one
JSON line, {"numpy": VERSION}, or {"skipped": "..."} if numpy is missing
(and exits 0). Then, for each request line

    {"shape": [m, k, n, trans_a, trans_b], "warmup": W, "samples": S}

it prints {"seconds_per_call": [S numbers]}: W untimed samples, then S timed
ones, each sample enough calls to take ~10 ms; it replies once OpenBLAS's
threads have gone idle. A transposed operand is stored
transposed and passed as `x.T`, which numpy hands to BLAS as a transpose flag,
without a copy, just as our GEMM reads it. It exits at the end of its input.
"""

import argparse
import contextlib
import json
import sys
import time


def reply(value):
    print(json.dumps(value), flush=True)


def settle():
    """Waits until OpenBLAS's idle threads stop spinning.

    After a call they spin for ~0.1 s (measured here) before sleeping; our
    GEMM's turn starts when this script replies, and would otherwise share
    the cores with them.
    """
    deadline = time.perf_counter() + 1.0
    while time.perf_counter() < deadline:
        cpu = time.process_time()
        time.sleep(0.005)
        if time.process_time() - cpu < 0.001:
            return


class Product:
    """One shape's operands, and how many calls make a ~10 ms sample."""

    def __init__(self, np, rng, m, k, n, trans_a, trans_b):
        a = rng.uniform(-1, 1, (k, m) if trans_a else (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, k) if trans_b else (k, n)).astype(np.float32)
        self.op_a = a.T if trans_a else a
        self.op_b = b.T if trans_b else b
        self.c = np.empty((m, n), dtype=np.float32)
        self.matmul = np.matmul
        # Timed warm, over ~2 ms, as xtask sizes its own samples: a first
        # call alone also pays for cold caches and pages.
        self.call()
        calls, start = 0, time.perf_counter()
        while calls == 0 or time.perf_counter() - start < 0.002:
            self.call()
            calls += 1
        once = max((time.perf_counter() - start) / calls, 1e-7)
        self.calls = max(1, int(0.01 / once))

    def call(self):
        self.matmul(self.op_a, self.op_b, out=self.c)

    def seconds_per_call(self, warmup, samples):
        times = []
        for index in range(warmup + samples):
            start = time.perf_counter()
            for _ in range(self.calls):
                self.call()
            if index >= warmup:
                times.append((time.perf_counter() - start) / self.calls)
        return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    try:
        import numpy as np
    except ImportError as e:
        reply({"skipped": f"numpy is not installed ({e})"})
        return
    try:
        from threadpoolctl import threadpool_limits

        limits = threadpool_limits(limits=args.threads, user_api="blas")
    except ImportError:
        limits = contextlib.nullcontext()

    rng = np.random.default_rng(0)
    # xtask's rounds visit every shape in turn: each keeps its operands.
    products = {}
    with limits:
        reply({"numpy": np.__version__})
        for line in sys.stdin:
            request = json.loads(line)
            shape = tuple(request["shape"])
            if shape not in products:
                products[shape] = Product(np, rng, *shape)
            product = products[shape]
            seconds = product.seconds_per_call(request["warmup"], request["samples"])
            settle()
            reply({"seconds_per_call": seconds})


if __name__ == "__main__":
    main()
