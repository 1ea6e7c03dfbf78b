"""Runs the source `trainer info --pytorch` prints, loads the weights file
into it strictly, and compares its outputs on the MNIST test images with the
trainer's own.

    python3 check_pytorch.py SOURCE.py WEIGHTS.safetensors OURS.npy DATA_DIR

WEIGHTS may name its tensors as the printed module does (`layers.0.weight`)
or as a bare nn.Sequential does (`0.weight`); either loads strictly.

Prints one JSON object: images, accuracy, max_abs_diff, modules (the class
names of model.layers, in order), loaded_with ("safetensors" or "by hand").
"""

import json
import struct
import sys

import numpy
import torch

from mnist_idx import read_idx


def load_file(path):
    """safetensors.torch.load_file, or the same by hand where safetensors is
    not installed: 8-byte little-endian header length, JSON header, data."""
    try:
        import safetensors.torch

        return safetensors.torch.load_file(path), "safetensors"
    except ImportError:
        pass
    with open(path, "rb") as file:
        data = file.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", entry
        start, end = entry["data_offsets"]
        values = numpy.frombuffer(data, dtype="<f4", count=(end - start) // 4, offset=8 + length + start)
        tensors[name] = torch.from_numpy(values.copy()).reshape(entry["shape"])
    return tensors, "by hand"


def main():
    source, weights, ours, data = sys.argv[1:5]
    namespace = {}
    with open(source) as file:
        exec(compile(file.read(), source, "exec"), namespace)
    model, prepare = namespace["model"], namespace["prepare"]
    state, loaded_with = load_file(weights)
    bare = not any(name.startswith("layers.") for name in state)
    (model.layers if bare else model).load_state_dict(state, strict=True)
    model.eval()
    images = read_idx(f"{data}/t10k-images-idx3-ubyte.gz")
    labels = read_idx(f"{data}/t10k-labels-idx1-ubyte.gz")
    pixels = torch.from_numpy(images.copy()).reshape(-1, 1, 28, 28)
    with torch.no_grad():
        outputs = model(prepare(pixels)).numpy()
    expected = numpy.load(ours)
    print(
        json.dumps(
            {
                "images": int(len(images)),
                "accuracy": float((outputs.argmax(axis=1) == labels).mean()),
                "max_abs_diff": float(numpy.abs(outputs - expected).max()),
                "modules": [type(m).__name__ for m in model.layers],
                "loaded_with": loaded_with,
            }
        )
    )


if __name__ == "__main__":
    main()
