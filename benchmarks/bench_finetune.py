"""a5_finetune reference on the offline flowers: accuracy and time per flavour, and the
speed-up of precomputed features for the top-only flavour.

    .venv/bin/python benchmarks/bench_finetune.py                      # defaults below, ~3-4 min on 2 cores
    .venv/bin/python benchmarks/bench_finetune.py --size 128 --epochs 8 --flavours top   # GPU-test settings

Backbone: EfficientNet-Lite0 with ImageNet weights (offline, from the pip package). Data:
the offline 128 px Flowers-102 copy, official split: train on train/, report accuracy on
val/ (all 102 classes unless --classes). Flavours: "all", "top", "top_k" (k=3) from the
pretrained weights, and "scratch" ("all" from random weights). SGD momentum 0.9, batch 32,
no augmentation, seed 0. Threads: --threads (default 2, the course machine's cores).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

KIT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(KIT / "assignments" / "a5_finetune"))
sys.path.insert(0, str(KIT / "solutions" / "a5_finetune"))

import reference as R  # noqa: E402
from backbones import load_backbone  # noqa: E402
from flowers import load_split, require_offline_root, tensor_loader  # noqa: E402

LR = {"all": 0.01, "top": 0.01, "top_k": 0.01, "scratch": 0.01}


def run_flavour(flavour, data, classes, epochs, k=3):
    (xt, yt), (xv, yv) = data
    torch.manual_seed(0)
    model = R.replace_head(load_backbone("efficientnet_lite0", pretrained=flavour != "scratch"), classes)
    names = R.set_trainable(model, "all" if flavour == "scratch" else flavour, k=k)
    optimizer = R.make_optimizer(model, LR[flavour])
    start = time.perf_counter()
    for epoch in range(epochs):
        R.train_one_epoch(model, tensor_loader(xt, yt, 32, shuffle=True, seed=epoch), optimizer, "cpu")
    train_seconds = time.perf_counter() - start
    accuracy = R.evaluate(model, tensor_loader(xv, yv, 128), "cpu")
    return {"accuracy": accuracy, "train_seconds": train_seconds, "trainable": len(names)}


def head_inputs(model, x, batch_size=128):
    head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    captured = []
    hook = head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
    model.eval()
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            model(x[i:i + batch_size])
    hook.remove()
    return torch.cat(captured)


def run_precomputed(data, classes, epochs):
    """Top-only on precomputed features: one pass through the body, then epochs on (N, 1280)."""
    (xt, yt), (xv, yv) = data
    torch.manual_seed(0)
    model = R.replace_head(load_backbone("efficientnet_lite0"), classes)
    start = time.perf_counter()
    features = head_inputs(model, xt)
    extract_seconds = time.perf_counter() - start
    head = model._fc
    optimizer = R.make_optimizer(head, LR["top"])
    for epoch in range(epochs):
        R.train_one_epoch(head, tensor_loader(features, yt, 32, shuffle=True, seed=epoch), optimizer, "cpu")
    train_seconds = time.perf_counter() - start
    accuracy = R.evaluate(model, tensor_loader(xv, yv, 128), "cpu")
    return {"accuracy": accuracy, "train_seconds": train_seconds, "extract_seconds": extract_seconds}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=102)
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (offline copy: <= 128)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--flavours", default="all,top,top_k,scratch")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = require_offline_root()
    data = (load_split(root, "train", args.size, args.classes), load_split(root, "val", args.size, args.classes))
    print(f"EfficientNet-Lite0, {args.classes} classes, {args.size} px, {args.epochs} epochs, "
          f"train {len(data[0][1])} / val {len(data[1][1])} images, {args.threads} threads")
    print(f"{'flavour':30s} {'val acc':>8s} {'train s':>8s}")
    results = {}
    for flavour in args.flavours.split(","):
        r = results[flavour] = run_flavour(flavour, data, args.classes, args.epochs)
        print(f"{flavour:30s} {r['accuracy']:8.3f} {r['train_seconds']:8.1f}", flush=True)
    if "top" in results:
        p = run_precomputed(data, args.classes, args.epochs)
        print(f"{'top, precomputed features':30s} {p['accuracy']:8.3f} {p['train_seconds']:8.1f}"
              f"   (feature extraction {p['extract_seconds']:.1f} s)")
        print(f"speed-up of precomputed features (top only, {args.epochs} epochs): "
              f"{results['top']['train_seconds'] / p['train_seconds']:.1f}x")


if __name__ == "__main__":
    main()
