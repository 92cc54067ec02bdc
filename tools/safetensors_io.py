"""Minimal safetensors reader/writer on top of numpy.

The `safetensors` package is deliberately not a dependency: these tools must run
on a stock Debian python3-torch/python3-numpy install with no PyPI access.

Layout: u64 little-endian header length N, then N bytes of UTF-8 JSON
  {name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
then the data section. Offsets are relative to the start of the data section.
"""

import json
import struct

import numpy as np

# Only what a reader might meet in practice; the writer restricts itself further.
_DTYPES = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}

# The C# side only needs float32; refusing anything else keeps fixtures uniform.
_WRITABLE = {"F32": np.dtype("<f4")}


def save(tensors, path, metadata=None):
    """Write `tensors` (name -> array-like) as F32, in the dict's iteration order."""
    arrays = {}
    for name, value in tensors.items():
        arr = np.ascontiguousarray(np.asarray(value, dtype=_WRITABLE["F32"]))
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"tensor {name!r} contains non-finite values")
        arrays[name] = ("F32", arr)
    _write(arrays, path, metadata)


def save_state_dict(tensors, path):
    """Write a PyTorch state_dict (name -> numpy array) keeping each tensor's dtype: F32, or I64 for the int64
    batch counters (num_batches_tracked) torch keeps in every BatchNorm's state_dict. Same layout as `save`."""
    names = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    arrays = {}
    for name, value in tensors.items():
        arr = np.asarray(value)
        if arr.dtype not in names:
            raise ValueError(f"tensor {name!r} has dtype {arr.dtype}; save_state_dict writes float32 and int64 only")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"tensor {name!r} contains non-finite values")
        arrays[name] = (names[arr.dtype], arr)
    _write(arrays, path)


def _write(arrays, path, metadata=None):
    """The file for `arrays` (name -> (dtype name, numpy array)), little-endian, C order, in iteration order."""
    header = {}
    blobs = []
    offset = 0
    for name, (dtype, arr) in arrays.items():
        data = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes(order="C")
        header[name] = {
            "dtype": dtype,
            "shape": [int(d) for d in arr.shape],
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}

    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Padding keeps the data section 8-byte aligned so readers can map it directly.
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for data in blobs:
            f.write(data)


def load(path):
    """Read a safetensors file into an ordered dict name -> writable numpy array."""
    tensors, _ = load_with_metadata(path)
    return tensors


def load_with_metadata(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} exceeds file size {len(raw)}")
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n :]

    metadata = header.pop("__metadata__", None) or {}
    tensors = {}
    covered = []
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info['dtype']}")
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(o) for o in info["data_offsets"])
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if not (0 <= begin <= end <= len(data)) or end - begin != expected:
            raise ValueError(
                f"{path}: tensor {name!r} offsets [{begin},{end}) inconsistent with "
                f"shape {list(shape)} / dtype {info['dtype']} (data section {len(data)} bytes)"
            )
        # copy() so callers get writable arrays that do not pin the whole file buffer.
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
        covered.append((begin, end))

    # The format forbids holes and overlaps; catching them here flags a broken writer early.
    pos = 0
    for begin, end in sorted(covered):
        if begin != pos:
            raise ValueError(f"{path}: data section has a hole or overlap at byte {pos}")
        pos = end
    if pos != len(data):
        raise ValueError(f"{path}: {len(data) - pos} trailing bytes after the last tensor")
    return tensors, metadata
