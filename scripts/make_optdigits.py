#!/usr/bin/env python3
"""Converts scikit-learn's bundled copy of UCI optdigits (1,797 8×8 digits, values 0..16) into
the IDX files of www/data/optdigits/: images N×8×8 (0 paper .. 255 ink, value × 255 / 16,
rounded) and labels N.

Usage: python3 scripts/make_optdigits.py [OUT_DIR]
It downloads the scikit-learn wheel with pip (no install, no dependencies) into a temporary
folder and reads sklearn/datasets/data/digits.csv.gz from it.
"""
import gzip
import os
import subprocess
import sys
import tempfile
import zipfile

VERSION = "1.9.1"
MEMBER = "sklearn/datasets/data/digits.csv.gz"


def write_gz(path, data):
    # mtime=0 keeps the output byte-identical across runs
    with open(path, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(data)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "www/data/optdigits"
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        f"scikit-learn=={VERSION}", "-d", tmp], check=True)
        wheel = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".whl"))
        rows = gzip.decompress(zipfile.ZipFile(wheel).read(MEMBER)).decode().split()
    images, labels = [], []
    for row in rows:
        values = [int(float(v)) for v in row.split(",")]
        assert len(values) == 65 and all(0 <= v <= 16 for v in values[:64]) and 0 <= values[64] <= 9
        images.extend(round(v * 255 / 16) for v in values[:64])
        labels.append(values[64])
    os.makedirs(out, exist_ok=True)
    write_gz(os.path.join(out, "images-idx3-ubyte.gz"), idx([len(labels), 8, 8], images))
    write_gz(os.path.join(out, "labels-idx1-ubyte.gz"), idx([len(labels)], labels))
    print(f"{len(labels)} digits into {out}")


if __name__ == "__main__":
    main()
