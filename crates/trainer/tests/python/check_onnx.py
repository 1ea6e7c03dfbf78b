"""Runs an exported ONNX model in onnxruntime on the MNIST test images and
compares it with the trainer's own outputs.

    python3 check_onnx.py MODEL.onnx OURS.npy DATA_DIR

MODEL.onnx from `trainer export`, OURS.npy from `trainer eval --dump-logits`,
DATA_DIR holding t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz.
Prints one JSON object: images, accuracy, max_abs_diff (against OURS.npy),
input_shape, output_name and output_shape as onnxruntime reports them, and
checker: "passed" when onnx.checker's full check passed (it raises if not),
or why it did not run.
"""

import json
import sys

import numpy
import onnxruntime

from mnist_idx import read_idx


def main():
    model, ours, data = sys.argv[1:4]
    images = read_idx(f"{data}/t10k-images-idx3-ubyte.gz")  # [N, 28, 28], 0-255
    labels = read_idx(f"{data}/t10k-labels-idx1-ubyte.gz")
    try:
        import onnx

        onnx.checker.check_model(onnx.load(model), full_check=True)
        checker = "passed"
    except ImportError:
        checker = "onnx not installed"
    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    (graph_output,) = session.get_outputs()
    # N x 1 x 28 x 28 for a convolutional network, N x 784 for a perceptron.
    shape = [len(images)] + list(graph_input.shape[1:])
    pixels = images.astype(numpy.float32).reshape(shape)
    (outputs,) = session.run(None, {graph_input.name: pixels})
    expected = numpy.load(ours)
    print(
        json.dumps(
            {
                "images": int(len(images)),
                "accuracy": float((outputs.argmax(axis=1) == labels).mean()),
                "max_abs_diff": float(numpy.abs(outputs - expected).max()),
                "input_shape": [str(d) for d in graph_input.shape],
                "output_name": graph_output.name,
                "output_shape": [str(d) for d in graph_output.shape],
                "checker": checker,
            }
        )
    )


if __name__ == "__main__":
    main()
