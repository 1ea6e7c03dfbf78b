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

import contextlib
import json
import sys

from timing import calls_per_sample, reply, settle, start_peer, timed_samples


class Product:
    """One shape's operands, and how many calls make a ~10 ms sample."""

    def __init__(self, np, rng, m, k, n, trans_a, trans_b):
        a = rng.uniform(-1, 1, (k, m) if trans_a else (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (n, k) if trans_b else (k, n)).astype(np.float32)
        self.op_a = a.T if trans_a else a
        self.op_b = b.T if trans_b else b
        self.c = np.empty((m, n), dtype=np.float32)
        self.matmul = np.matmul
        self.calls = calls_per_sample(self.call, 0.01)

    def call(self):
        self.matmul(self.op_a, self.op_b, out=self.c)

    def seconds_per_call(self, warmup, samples):
        return timed_samples(self.call, self.calls, warmup, samples)


def main():
    args, np = start_peer("numpy")
    if np is None:
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
