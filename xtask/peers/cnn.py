"""The convolutional workloads of `cargo xtask bench train --compare` and
`bench infer --compare`, in PyTorch (CPU), the way its examples/mnist trains
and tests: the same network, batch, optimizer, schedule and images as our
trainer in the same run; for inference, the 10,000 test images in chunks of
1,000, in `torch.inference_mode` (freshly initialised weights: the time of a
forward pass does not depend on their values).

Usage (xtask runs it; the thread count also goes through the environment,
which OpenMP reads when torch is imported):

    python cnn.py --layers "1x28x28 c32k3 c64k3 p2 d0.25 f128 d0.5 10" \
                  --activation relu --optimizer adadelta --lr 1.0 \
                  --schedule step:1:0.7 --batch 64 --limit 6000 \
                  --threads N --epochs E --data DIR

The network comes as a spec in `nn`'s language (crates/nn/src/spec.rs), so
xtask's table in `bench/networks.rs` is the only place a network is written
down; this script builds the `torch.nn.Sequential` that spec names (as
`nn` numbers its modules) and reports its parameter count and forward
multiply-adds, which xtask checks against `nn`'s before it trusts a figure.
Only the tokens the bench uses are understood: CxHxW, cFkK[sS][pP], pK[sS],
aK[sS], dRATE, fN or N, a convolution or dense token followed by `bn`
(no bias, then BatchNorm); `gap` is refused.

Prints one JSON object on stdout, with the keys `mlp.py` prints for a
training or inference run. Without torch it prints {"skipped": "..."} and exits 0.
"""

import argparse
import json
import re
import sys
import time

# Loading MNIST, reading the peak resident set and the report's layout are
# mlp.py's; this script sits beside it, so Python finds it.
from mlp import infer_report, load_mnist, train_report


def parse_spec(text):
    """`1x28x28 c32k3 p2 d0.25 f128 10` -> (input (C, H, W), [layer], outputs).

    A layer is ("conv", filters, kernel, stride, padding), ("max" | "avg",
    kernel, stride), ("dropout", rate) or ("dense", units)."""
    tokens = [t for t in re.split(r"[\s,-]+", text.strip()) if t]
    if len(tokens) < 2:
        raise SystemExit(f"spec {text!r}: need an input and an output")
    dims = [int(d) for d in tokens[0].lower().split("x")]
    shape = tuple(dims) if len(dims) == 3 else (dims[0], 1, 1)
    layers = []
    for token in tokens[1:-1]:
        word = token.lower()
        norm = word.endswith("bn")
        if norm:
            word = word[:-2]
        if word.startswith("d"):
            layers.append(("dropout", float(word[1:])))
            continue
        if word.isdigit():
            layers.append(("dense", int(word), norm))
            continue
        parts = re.findall(r"([a-z])(\d+)", word)
        if "".join(f"{k}{v}" for k, v in parts) != word:
            raise SystemExit(f"spec {text!r}: cnn.py does not know token {token!r}")
        numbers = {key: int(value) for key, value in parts}
        kind = parts[0][0]
        if kind == "c" and set(numbers) <= set("cksp"):
            layers.append(("conv", numbers["c"], numbers["k"], numbers.get("s", 1), numbers.get("p", 0), norm))
        elif kind in "pa" and set(numbers) <= {kind, "s"}:
            layers.append(("max" if kind == "p" else "avg", numbers[kind], numbers.get("s", numbers[kind])))
        elif kind == "f" and set(numbers) == {"f"}:
            layers.append(("dense", numbers["f"], norm))
        else:
            raise SystemExit(f"spec {text!r}: cnn.py does not know token {token!r}")
    return shape, layers, int(tokens[-1])


def build_model(torch, spec, activation):
    """The torch.nn.Sequential of `spec`, and its forward multiply-adds per
    image (convolutions and dense layers: out_C*out_H*out_W*in_C*K*K and
    I*O), the count `nn::ModelSpec::forward_multiply_adds` makes."""
    (channels, height, width), layers, outputs = parse_spec(spec)
    nn = torch.nn
    hidden = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
    modules, multiply_adds, flat = [], 0, False
    for layer in layers:
        kind = layer[0]
        if kind == "conv":
            _, filters, kernel, stride, padding, norm = layer
            modules.append(nn.Conv2d(channels, filters, kernel, stride, padding, bias=not norm))
            if norm:
                modules.append(nn.BatchNorm2d(filters))
            modules.append(hidden())
            height = (height + 2 * padding - kernel) // stride + 1
            width = (width + 2 * padding - kernel) // stride + 1
            multiply_adds += filters * height * width * channels * kernel * kernel
            channels = filters
        elif kind in ("max", "avg"):
            _, kernel, stride = layer
            pool = nn.MaxPool2d if kind == "max" else nn.AvgPool2d
            modules.append(pool(kernel, stride))
            height = (height - kernel) // stride + 1
            width = (width - kernel) // stride + 1
        elif kind == "dropout":
            modules.append(nn.Dropout(layer[1]))
        else:
            if not flat:
                modules.append(nn.Flatten())
                flat = True
            inputs = channels * height * width
            modules.append(nn.Linear(inputs, layer[1], bias=not layer[2]))
            if layer[2]:
                modules.append(nn.BatchNorm1d(layer[1]))
            modules.append(hidden())
            multiply_adds += inputs * layer[1]
            channels, height, width = layer[1], 1, 1
    if not flat:
        modules.append(nn.Flatten())
    modules.append(nn.Linear(channels * height * width, outputs))
    multiply_adds += channels * height * width * outputs
    return nn.Sequential(*modules), multiply_adds


def optimizer_of(torch, name, parameters, lr):
    """PyTorch's own optimizers with their default hyper-parameters, as the
    examples use them (Adadelta rho 0.9 eps 1e-6; Adam betas 0.9, 0.999)."""
    optimizers = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adadelta": torch.optim.Adadelta}
    if name not in optimizers:
        raise SystemExit(f"cnn.py knows the optimizers {sorted(optimizers)}, not {name!r}")
    return optimizers[name](parameters, lr=lr)


def scheduler_of(torch, schedule, optimizer):
    """`constant`, or `step:EPOCHS:GAMMA` (StepLR, stepped once per epoch
    as examples/mnist does)."""
    if schedule == "constant":
        return None
    match = re.fullmatch(r"step:(\d+):([\d.]+)", schedule)
    if not match:
        raise SystemExit(f"cnn.py knows the schedules constant and step:E:G, not {schedule!r}")
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(match[1]), gamma=float(match[2]))


def train(args):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist(np, args.data)
    # The first `limit` images of each set, as `trainer --limit` takes them.
    x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    x_test, y_test = x_test[: args.limit], y_test[: args.limit]
    model, multiply_adds = build_model(torch, args.layers, args.activation)
    (channels, height, width), _, _ = parse_spec(args.layers)
    as_images = lambda x: torch.from_numpy(x).reshape(-1, channels, height, width)
    x_train, y_train = as_images(x_train), torch.from_numpy(y_train)
    x_test, y_test = as_images(x_test), torch.from_numpy(y_test)

    optimizer = optimizer_of(torch, args.optimizer, model.parameters(), args.lr)
    scheduler = scheduler_of(torch, args.schedule, optimizer)
    loss_fn = torch.nn.CrossEntropyLoss()
    epoch_seconds = []
    for _ in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train))
        start = time.perf_counter()
        for first in range(0, len(order), args.batch):
            idx = order[first : first + args.batch]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
        epoch_seconds.append(time.perf_counter() - start)
        if scheduler is not None:
            scheduler.step()
    model.eval()
    with torch.no_grad():
        correct = sum(
            int((model(x_test[i : i + 1000]).argmax(dim=1) == y_test[i : i + 1000]).sum())
            for i in range(0, len(x_test), 1000)
        )
    report = train_report(epoch_seconds, len(x_train), correct / len(x_test), 6 * multiply_adds)
    report.update(
        parameters=sum(p.numel() for p in model.parameters()),
        forward_multiply_adds=multiply_adds,
        framework_version=torch.__version__,
    )
    return report


def infer(args):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    _, (x_test, y_test) = load_mnist(np, args.data)
    model, multiply_adds = build_model(torch, args.layers, args.activation)
    model.eval()
    (channels, height, width), _, _ = parse_spec(args.layers)
    x_test = torch.from_numpy(x_test).reshape(-1, channels, height, width)

    def predict(x):
        with torch.inference_mode():
            return [model(x[i : i + 1000]).argmax(dim=1) for i in range(0, len(x), 1000)]

    report = infer_report(args, None, predict, x_test, y_test, torch)
    report.update(
        parameters=sum(p.numel() for p in model.parameters()),
        forward_multiply_adds=multiply_adds,
        framework_version=torch.__version__,
    )
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", required=True, help="a spec in nn's language")
    parser.add_argument("--mode", choices=["train", "infer"], default="train")
    parser.add_argument("--activation", choices=["relu", "tanh", "sigmoid"], default="relu")
    parser.add_argument("--optimizer", default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--schedule", default="constant")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--limit", type=int, default=60_000, help="first N training and test images")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--data", required=True)
    args = parser.parse_args()
    try:
        result = train(args) if args.mode == "train" else infer(args)
    except ImportError as missing:
        result = {"skipped": f"torch is not installed ({missing})"}
    result.update(framework="torch", layers=args.layers, mode=args.mode, threads=args.threads)
    json.dump(result, sys.stdout)
    print()


if __name__ == "__main__":
    main()
