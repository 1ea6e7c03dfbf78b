"""The training and inference workloads of `cargo xtask bench --compare`,
written the way people write them in numpy and in PyTorch (CPU), so our
figures sit beside theirs: same networks, same batch, same thread count.

Usage (xtask runs it; the thread count is set through the environment
before numpy/torch load, as OpenBLAS and OpenMP read it at import):

    python mlp.py --framework numpy|torch --net a|b --mode train|infer \
                  --threads N --epochs E --data DIR

Prints one JSON object on stdout. A missing framework prints
{"skipped": "..."} and exits 0: the bench reports it, never fails on it.

Networks (issue 6):
  a: 784-100-10 ReLU, SGD lr 0.1, batch 100
  b: 784-512-256-10 ReLU, Adam lr 1e-3, batch 128
"""

import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time

NETS = {
    "a": {"sizes": [784, 100, 10], "optimizer": "sgd", "lr": 0.1, "batch": 100},
    "b": {"sizes": [784, 512, 256, 10], "optimizer": "adam", "lr": 1e-3, "batch": 128},
}


def read_idx(path):
    """Reads a (possibly gzipped) IDX file of u8 into (dims, bytes)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    return dims, raw[4 + 4 * ndim :]


def load_mnist(np, data_dir):
    def part(name):
        for suffix in (".gz", ""):
            path = os.path.join(data_dir, name + suffix)
            if os.path.exists(path):
                return read_idx(path)
        raise SystemExit(f"missing {name}[.gz] in {data_dir}")

    out = []
    for prefix in ("train", "t10k"):
        dims, pixels = part(f"{prefix}-images-idx3-ubyte")
        _, labels = part(f"{prefix}-labels-idx1-ubyte")
        x = np.frombuffer(pixels, dtype=np.uint8).reshape(dims[0], -1).astype(np.float32) / 255.0
        y = np.frombuffer(labels, dtype=np.uint8).astype(np.int64)
        out.append((x, y))
    return out


def peak_memory_mb():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def flops_per_sample(sizes):
    """Training FLOPs per sample: forward 2*I*O per layer, backward 2*I*O for
    dW plus 2*I*O for dX except at the first layer (its input gradient is
    never needed)."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    forward = sum(2 * i * o for i, o in pairs)
    backward = sum(2 * i * o for i, o in pairs) + sum(2 * i * o for i, o in pairs[1:])
    return forward + backward


# ---------------------------------------------------------------- numpy ----


def numpy_workload(args, net):
    import numpy as np

    (x_train, y_train), (x_test, y_test) = load_mnist(np, args.data)
    rng = np.random.default_rng(0)
    sizes = net["sizes"]
    weights = [
        (rng.standard_normal((o, i)).astype(np.float32) * np.float32(np.sqrt(2.0 / i)))
        for i, o in zip(sizes[:-1], sizes[1:])
    ]
    biases = [np.zeros(o, dtype=np.float32) for o in sizes[1:]]
    params = [p for pair in zip(weights, biases) for p in pair]

    def forward(x):
        activations = [x]
        for layer, (w, b) in enumerate(zip(weights, biases)):
            z = activations[-1] @ w.T + b
            if layer < len(weights) - 1:
                np.maximum(z, 0, out=z)
            activations.append(z)
        return activations

    if args.mode == "infer":
        return infer_report(args, net, lambda x: forward(x)[-1], x_test, y_test, np)

    lr = np.float32(net["lr"])
    adam_m = [np.zeros_like(p) for p in params]
    adam_v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
    step = 0
    batch = net["batch"]
    epoch_seconds = []
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_train))
        start = time.perf_counter()
        for first in range(0, len(order), batch):
            idx = order[first : first + batch]
            x, y = x_train[idx], y_train[idx]
            acts = forward(x)
            logits = acts[-1]
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(y)), y] -= 1.0
            grad = p / np.float32(len(y))
            grads = []
            for layer in range(len(weights) - 1, -1, -1):
                grads.append((grad.T @ acts[layer], grad.sum(axis=0)))
                if layer > 0:
                    grad = grad @ weights[layer]
                    grad *= acts[layer] > 0
            grads = [g for pair in reversed(grads) for g in pair]
            step += 1
            if net["optimizer"] == "sgd":
                for param, g in zip(params, grads):
                    param -= lr * g
            else:
                c1 = np.float32(1 - beta1**step)
                c2 = np.float32(1 - beta2**step)
                for param, g, m, v in zip(params, grads, adam_m, adam_v):
                    m *= beta1
                    m += (1 - beta1) * g
                    v *= beta2
                    v += (1 - beta2) * g * g
                    param -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
        epoch_seconds.append(time.perf_counter() - start)
    accuracy = float((forward(x_test)[-1].argmax(axis=1) == y_test).mean())
    return train_report(epoch_seconds, len(x_train), accuracy, flops_per_sample(net["sizes"]))


# ---------------------------------------------------------------- torch ----


def torch_mlp(torch, sizes):
    """Linear layers of `sizes` with ReLU between them (scaling.py's too)."""
    layers = []
    for layer, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(i, o))
        if layer < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_predictor(torch, model):
    """`model` in eval mode as a function of a batch, returning logits."""
    model.eval()
    # inference_mode (torch >= 1.9) skips autograd bookkeeping entirely,
    # the fastest way PyTorch documents to run a model for prediction.
    no_autograd = getattr(torch, "inference_mode", torch.no_grad)

    def predict(x):
        with no_autograd():
            return model(x)

    return predict


def torch_train_step(torch, model, net):
    """A function of a batch (images, class indices) that takes one step of
    `net`'s optimizer (SGD or Adam at `net["lr"]`) on cross-entropy."""
    if net["optimizer"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=net["lr"])
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=net["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def torch_workload(args, net):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist(np, args.data)
    x_train, y_train = torch.from_numpy(x_train), torch.from_numpy(y_train)
    x_test, y_test = torch.from_numpy(x_test), torch.from_numpy(y_test)
    model = torch_mlp(torch, net["sizes"])

    if args.mode == "infer":
        return infer_report(args, net, torch_predictor(torch, model), x_test, y_test, torch)

    train_step = torch_train_step(torch, model, net)
    batch = net["batch"]
    epoch_seconds = []
    for epoch in range(args.epochs):
        order = torch.randperm(len(x_train))
        start = time.perf_counter()
        for first in range(0, len(order), batch):
            idx = order[first : first + batch]
            train_step(x_train[idx], y_train[idx])
        epoch_seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(dim=1) == y_test).float().mean())
    return train_report(epoch_seconds, len(x_train), accuracy, flops_per_sample(net["sizes"]))


# -------------------------------------------------------------- reports ----


def train_report(epoch_seconds, samples, accuracy, sample_flops):
    """A training run's JSON object (cnn.py's too): `samples` per epoch,
    `sample_flops` training FLOPs per sample as the caller counts them."""
    # This run's median epoch, for reading the script's output on its own;
    # xtask takes the median over the epochs of all its rounds instead.
    seconds = sorted(epoch_seconds)[len(epoch_seconds) // 2]
    rate = samples / seconds
    return {
        "seconds_per_epoch": seconds,
        "samples_per_second": rate,
        # Every epoch, so xtask can take the median over several runs.
        "epoch_seconds": epoch_seconds,
        "samples_per_epoch": samples,
        "gflops": rate * sample_flops / 1e9,
        "test_accuracy": accuracy,
        "peak_memory_mb": peak_memory_mb(),
    }


def infer_report(args, net, predict, x_test, y_test, lib):
    one = x_test[:1]
    for _ in range(200):
        predict(one)
    latencies = []
    for i in range(2000):
        x = x_test[i % len(x_test) : i % len(x_test) + 1]
        start = time.perf_counter()
        predict(x)
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    throughput_runs = []
    for _ in range(5):
        start = time.perf_counter()
        predict(x_test)
        throughput_runs.append(time.perf_counter() - start)
    seconds = sorted(throughput_runs)[len(throughput_runs) // 2]
    return {
        "latency_us": latencies[len(latencies) // 2] * 1e6,
        "throughput_images_per_second": len(x_test) / seconds,
        "peak_memory_mb": peak_memory_mb(),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--framework", choices=["numpy", "torch"], required=True)
    parser.add_argument("--net", choices=sorted(NETS), required=True)
    parser.add_argument("--mode", choices=["train", "infer"], default="train")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    workload = numpy_workload if args.framework == "numpy" else torch_workload
    try:
        result = workload(args, NETS[args.net])
    except ImportError as missing:
        result = {"skipped": f"{args.framework} is not installed ({missing})"}
    if args.framework in sys.modules:
        result.update(framework_version=sys.modules[args.framework].__version__)
    result.update(framework=args.framework, net=args.net, mode=args.mode, threads=args.threads)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
