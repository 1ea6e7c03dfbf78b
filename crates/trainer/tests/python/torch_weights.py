"""Trains, in PyTorch, the network that `trainer info --arch SPEC --pytorch`
printed, a little (so weights and batch norm statistics are its own), and
saves its state_dict with safetensors.torch.save_file twice: as the printed
module holds it (`layers.0.weight`, ...) and as a bare nn.Sequential does
(`0.weight`, ...). Then writes its outputs on the MNIST test images.

    python3 torch_weights.py SOURCE.py OUT_DIR DATA_DIR

Writes OUT_DIR/held.safetensors, OUT_DIR/bare.safetensors and
OUT_DIR/torch.npy (float32 [10000, 10]); prints one JSON object: images,
accuracy, dtypes (every dtype in the saved file, e.g. F32 and I64).
"""

import json
import sys

import numpy
import safetensors.torch
import torch

from mnist_idx import read_idx


def main():
    source, out, data = sys.argv[1:4]
    namespace = {}
    with open(source) as file:
        exec(compile(file.read(), source, "exec"), namespace)
    model, prepare = namespace["model"], namespace["prepare"]

    torch.manual_seed(0)
    images = read_idx(f"{data}/train-images-idx3-ubyte.gz")[:3000]
    labels = read_idx(f"{data}/train-labels-idx1-ubyte.gz")[:3000]
    pixels = torch.from_numpy(images.copy()).reshape(-1, 1, 28, 28)
    targets = torch.from_numpy(labels.astype(numpy.int64))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for start in range(0, len(images), 100):
        optimizer.zero_grad()
        logits = model(prepare(pixels[start : start + 100]))
        loss = torch.nn.functional.cross_entropy(logits, targets[start : start + 100])
        loss.backward()
        optimizer.step()
    model.eval()

    held = f"{out}/held.safetensors"
    safetensors.torch.save_file(model.state_dict(), held)
    safetensors.torch.save_file(model.layers.state_dict(), f"{out}/bare.safetensors")

    test_images = read_idx(f"{data}/t10k-images-idx3-ubyte.gz")
    test_labels = read_idx(f"{data}/t10k-labels-idx1-ubyte.gz")
    test_pixels = torch.from_numpy(test_images.copy()).reshape(-1, 1, 28, 28)
    with torch.no_grad():
        outputs = model(prepare(test_pixels)).numpy().astype(numpy.float32)
    numpy.save(f"{out}/torch.npy", outputs)
    with open(held, "rb") as file:
        length = int.from_bytes(file.read(8), "little")
        header = json.loads(file.read(length))
    dtypes = sorted({entry["dtype"] for name, entry in header.items() if name != "__metadata__"})
    print(
        json.dumps(
            {
                "images": int(len(test_images)),
                "accuracy": float((outputs.argmax(axis=1) == test_labels).mean()),
                "dtypes": dtypes,
            }
        )
    )


if __name__ == "__main__":
    main()
