"""Train a small ShuffleNet v1 on Fashion-MNIST for ShuffleNetGen's samples/FashionMnist.

Usage:
  /usr/bin/python3 tools/train_fashion_mnist.py [--epochs 4] [--data /usr/share/datasets/fashion-mnist]
      [--out samples/FashionMnist] [--fixture tests/ShuffleNetGen.Tests/Fixtures/fashion] [--measure]

The model is g = 3 at 0.5x for 1x28x28 input: stem 12 (stride 1, no max pool), stages [120, 240, 480] with
repeats [4, 8, 4], 10 classes (FASHION_CONFIG below; samples/FashionMnist declares the same).
Input normalization: x = (pixel / 255 - MEAN) / STD, the same in the C# sample.

Writes
  OUT/fashion_shufflenet.safetensors   weights in the canonical layout (no num_batches_tracked)
  OUT/fashion_shufflenet.json          the config (tools/shufflenet.py keys)
  OUT/pytorch_predictions.bin          PyTorch's predicted class for each of the 10,000 test images (one byte each)
  OUT/train_log.txt                    the training log with the test accuracy
  FIXTURE/fashion_sample.io.safetensors  64 test images: `indices` [64], `labels` [64], `input` [64,1,28,28]
                                         (normalized) and `logits` [64,10] from a float64 forward pass
`--measure` times 50 training batches and prints the estimated epoch time, then exits.
Runs single-threaded (torch.set_num_threads(1)) so it shares a small machine politely.
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from shufflenet import ShuffleNetV1, load_weights, weights_to_numpy  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

FASHION_CONFIG = {
    "groups": 3,
    "stem_channels": 12,
    "stage_channels": [120, 240, 480],
    "stage_repeats": [4, 8, 4],
    "input_channels": 1,
    "input_height": 28,
    "input_width": 28,
    "classes": 10,
    "stem_stride": 1,
    "stem_max_pool": False,
}
SAMPLE_COUNT = 64
SEED = 20240601


def read_idx(path):
    """Reads an idx file (gzip'd or not) into a uint8 array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    if magic >> 8 != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file (magic {magic:#x})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load_split(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    return images, labels


def normalize(images_u8):
    x = torch.from_numpy(images_u8.astype(np.float32) / 255.0)
    return ((x - MEAN) / STD).unsqueeze(1)  # [N, 1, 28, 28]


def augment(x, gen):
    """Random horizontal flip and a random shift of up to 2 pixels (zero = background after padding)."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = F.pad(x, (2, 2, 2, 2), value=-MEAN / STD)
    dx, dy = torch.randint(0, 5, (2,), generator=gen).tolist()
    return pad[:, :, dy:dy + 28, dx:dx + 28]


def evaluate(model, x, batch=1000):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            out.append(model(x[i:i + batch]))
    return torch.cat(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--data", default=DATA_DIR)
    parser.add_argument("--out", default=os.path.join(REPO_ROOT, "samples", "FashionMnist"))
    parser.add_argument("--fixture", default=os.path.join(REPO_ROOT, "tests", "ShuffleNetGen.Tests", "Fixtures", "fashion"))
    parser.add_argument("--measure", action="store_true", help="time 50 batches, print the epoch estimate, exit")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)

    train_u8, train_y = load_split(args.data, "train")
    test_u8, test_y = load_split(args.data, "test")
    x_train, y_train = normalize(train_u8), torch.from_numpy(train_y.astype(np.int64))
    x_test, y_test = normalize(test_u8), torch.from_numpy(test_y.astype(np.int64))

    model = ShuffleNetV1.from_config(FASHION_CONFIG)
    n_params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = (x_train.shape[0] + args.batch - 1) // args.batch
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch,
                                                pct_start=0.2)

    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    log(f"config {json.dumps(FASHION_CONFIG)}")
    log(f"parameters {n_params}, epochs {args.epochs}, batch {args.batch}, AdamW max lr {args.lr} one-cycle, "
        f"threads {torch.get_num_threads()}, torch {torch.__version__}")
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        t0 = time.time()
        total_loss, seen = 0.0, 0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch:(step + 1) * args.batch]
            xb, yb = augment(x_train[idx], gen), y_train[idx]
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += loss.item() * len(idx)
            seen += len(idx)
            if args.measure and step == 49:
                per = (time.time() - t0) / 50
                print(f"{per * 1000:.1f} ms/batch -> {per * steps_per_epoch / 60:.1f} min/epoch (+ eval)")
                return
        logits = evaluate(model, x_test)
        acc = (logits.argmax(1) == y_test).float().mean().item()
        log(f"epoch {epoch + 1}/{args.epochs}: train loss {total_loss / seen:.4f}, test accuracy {acc * 100:.2f}%, "
            f"{time.time() - t0:.0f} s")
    log(f"training time {time.time() - started:.0f} s")

    model.eval()
    weights = weights_to_numpy(model)
    os.makedirs(args.out, exist_ok=True)
    weights_path = os.path.join(args.out, "fashion_shufflenet.safetensors")
    safetensors_io.save(weights, weights_path)
    with open(os.path.join(args.out, "fashion_shufflenet.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(FASHION_CONFIG, f, indent=2)
        f.write("\n")

    # Reload from the file, as a consumer would, and compute the reported figures from the file's weights.
    reloaded = load_weights(ShuffleNetV1.from_config(FASHION_CONFIG), safetensors_io.load(weights_path)).eval()
    logits = evaluate(reloaded, x_test)
    pred = logits.argmax(1)
    acc = (pred == y_test).float().mean().item()
    with open(os.path.join(args.out, "pytorch_predictions.bin"), "wb") as f:
        f.write(pred.to(torch.uint8).numpy().tobytes())
    confusion = np.zeros((10, 10), dtype=np.int64)
    for t, p in zip(y_test.numpy(), pred.numpy()):
        confusion[t, p] += 1
    log(f"final test accuracy (float32, reloaded weights): {acc * 100:.2f}% ({int((pred == y_test).sum())}/10000)")
    log("confusion matrix (rows true, columns predicted): " + ", ".join(CLASSES))
    for i, row in enumerate(confusion):
        log(f"  {CLASSES[i]:>12} " + " ".join(f"{v:5d}" for v in row))
    log(f"weights file {os.path.getsize(weights_path)} bytes")

    # Fixture: a fixed, seeded sample of test images with float64 logits.
    rng = np.random.default_rng(SEED)
    indices = np.sort(rng.choice(x_test.shape[0], SAMPLE_COUNT, replace=False))
    sample = x_test[indices]
    model64 = load_weights(ShuffleNetV1.from_config(FASHION_CONFIG), safetensors_io.load(weights_path)).double().eval()
    with torch.no_grad():
        logits64 = model64(sample.double()).to(torch.float32).numpy()
    os.makedirs(args.fixture, exist_ok=True)
    safetensors_io.save({
        "indices": indices.astype(np.float32),
        "labels": test_y[indices].astype(np.float32),
        "input": sample.numpy(),
        "logits": logits64,
    }, os.path.join(args.fixture, "fashion_sample.io.safetensors"))
    agree = int((logits64.argmax(1) == pred.numpy()[indices]).sum())
    log(f"fixture: {SAMPLE_COUNT} test images, float64 logits; float64 vs float32 argmax agree on {agree}/{SAMPLE_COUNT}")

    with open(os.path.join(args.out, "train_log.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(log_lines) + "\n")


if __name__ == "__main__":
    main()
