"""PyTorch's side of `cargo xtask bench scaling`: training steps and forward
passes of an MLP at one width and batch at a time, measured on request.

xtask starts one of these per thread count and keeps it running, taking
turns with its own measurement at every point of the sweeps.

    OMP_NUM_THREADS=N python scaling.py --threads N

It first prints one JSON line, {"torch": VERSION}, or {"skipped": "..."}
if torch is missing (and exits 0). Then, for each request line

    {"sizes": [784, W, W, 10], "batch": B, "mode": "train" | "infer",
     "optimizer": "adam", "lr": 0.001, "sample_seconds": S,
     "budget_seconds": T, "min_samples": N, "clock": "wall" | "thread_cpu"}

it prints {"seconds_per_call": [...]}: one figure per sample of calls
(a step, or a forward pass under inference_mode), as many samples as fit
in T seconds but at least N, each ~S seconds long, after warm-up calls,
on the wall clock or on this thread's CPU time (time.thread_time: at one
thread PyTorch computes on the calling thread);
it replies once PyTorch's threads have gone idle. The network, its
optimizer and the step are mlp.py's; the batch is fixed random pixels in
[0, 1) and classes 0-9 in turn, as xtask's own side uses.
"""

import json
import sys
import time

from mlp import torch_mlp, torch_predictor, torch_train_step
from timing import calls_per_sample, reply, samples_within, settle, start_peer


def main():
    args, torch = start_peer("torch")
    if torch is None:
        return
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    reply({"torch": torch.__version__})
    # The model of the sizes asked last: the batch sweep asks for the same
    # sizes over and over; a new width replaces it (at 4096 a model and its
    # Adam state hold ~270 MB).
    current = None
    for line in sys.stdin:
        request = json.loads(line)
        sizes, batch = request["sizes"], request["batch"]
        net = {"sizes": sizes, "optimizer": request["optimizer"], "lr": request["lr"]}
        if current is None or current[0] != net:
            # Every reference to the old model dropped first.
            current = model = train_step = call = predict = None
            model = torch_mlp(torch, sizes)
            current = (net, model, torch_train_step(torch, model, net))
        _, model, train_step = current
        x = torch.rand(batch, sizes[0])
        y = torch.arange(batch) % sizes[-1]
        if request["mode"] == "train":
            model.train()
            call = lambda: train_step(x, y)  # noqa: E731
        else:
            predict = torch_predictor(torch, model)
            call = lambda: predict(x)  # noqa: E731
        now = time.thread_time if request["clock"] == "thread_cpu" else time.perf_counter
        calls = calls_per_sample(call, request["sample_seconds"], now)
        seconds = samples_within(
            call, calls, request["budget_seconds"], request["min_samples"], now
        )
        settle()
        reply({"seconds_per_call": seconds})


if __name__ == "__main__":
    main()
