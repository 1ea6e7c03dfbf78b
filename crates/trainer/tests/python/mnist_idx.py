"""MNIST's IDX files, gzipped, read with numpy alone."""

import gzip

import numpy


def read_idx(path):
    """An IDX file (gzipped): big-endian magic (0, 0, type, dims), sizes, data."""
    with gzip.open(path, "rb") as file:
        data = file.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(dims)]
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=4 + 4 * dims).reshape(shape)
