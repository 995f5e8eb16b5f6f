#!/usr/bin/env python3
"""Builds the MNIST subset the page bundles (www/data/) from the canonical IDX files.

train: the first PER_CLASS images of each digit from the 60,000 training images, in their
original order (class-balanced); t10k: all 10,000 test images, unchanged.

Usage: python3 scripts/make_subset.py MNIST_DIR [OUT_DIR] [PER_CLASS]
MNIST_DIR holds train-images-idx3-ubyte(.gz) etc., e.g. from ./build.sh mnist.
"""
import gzip
import os
import sys


def read(path):
    for p in (path, path + ".gz"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                data = f.read()
            return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    sys.exit("missing " + path)


def write_gz(path, data):
    # mtime=0 keeps the output byte-identical across runs
    with open(path, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "www/data"
    per_class = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    images = read(os.path.join(src, "train-images-idx3-ubyte"))
    labels = read(os.path.join(src, "train-labels-idx1-ubyte"))
    n = int.from_bytes(labels[4:8], "big")
    taken = [0] * 10
    keep = []
    for i in range(n):
        digit = labels[8 + i]
        if taken[digit] < per_class:
            taken[digit] += 1
            keep.append(i)
    px = 28 * 28
    img = bytearray(images[:4]) + len(keep).to_bytes(4, "big") + images[8:16]
    lab = bytearray(labels[:4]) + len(keep).to_bytes(4, "big")
    for i in keep:
        img += images[16 + i * px:16 + (i + 1) * px]
        lab.append(labels[8 + i])
    os.makedirs(out, exist_ok=True)
    write_gz(os.path.join(out, "train-images-idx3-ubyte.gz"), bytes(img))
    write_gz(os.path.join(out, "train-labels-idx1-ubyte.gz"), bytes(lab))
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        write_gz(os.path.join(out, name + ".gz"), read(os.path.join(src, name)))
    print("train subset: %d images (%s per digit); test: 10000 images -> %s" % (len(keep), taken, out))


if __name__ == "__main__":
    main()
