"""The a5 GPU stage's recipe, "top" and "top_k" flavours, computed exactly on a CPU in about a
minute: the provisional thresholds in solutions/a5_finetune/spec.py come from here.

    .venv/bin/python benchmarks/gpu_recipe_cpu.py

Why it is exact: in both flavours every layer below ``_conv_head`` is frozen, and the
reference's ``train_one_epoch`` puts frozen BatchNorm layers in eval mode (the network has no
drop-connect), so the output of ``_blocks`` for a photo is the same in every epoch. It is
computed once; then the top layers (``_conv_head``, ``_bn1``, dropout, ``_fc``: the same module
objects) train with the reference's own functions on those outputs, in the recipe's batches
(same seeds, same order). Only float rounding and the dropout masks' stream may differ from a
run through the whole network. "all" trains the body too and cannot be shortened this way.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

KIT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(KIT / "assignments" / "a5_finetune"))  # its shared_with_grader/ package
sys.path.insert(0, str(KIT / "solutions" / "a5_finetune"))

import reference as R  # noqa: E402
import spec  # noqa: E402
from shared_with_grader.backbones import load_backbone  # noqa: E402
from shared_with_grader.flowers import load_split, require_offline_root, tensor_loader  # noqa: E402


class Top(nn.Module):
    """The network above ``_blocks``: its own modules, registered in the network's order."""

    def __init__(self, net):
        super().__init__()
        self._conv_head, self._bn1, self._dropout, self._fc = net._conv_head, net._bn1, net._dropout, net._fc

    def forward(self, z):
        x = F.relu6(self._bn1(self._conv_head(z)))
        return self._fc(self._dropout(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))


def block_outputs(net, x, batch=128):
    net.eval()
    with torch.no_grad():
        return torch.cat([net._blocks(F.relu6(net._bn0(net._conv_stem(x[i:i + batch]))))
                          for i in range(0, len(x), batch)])


def main():
    torch.set_num_threads(2)
    recipe = spec.GPU_RECIPE
    root = require_offline_root()
    started = time.perf_counter()
    (xt, yt), (xv, yv) = (load_split(root, s, recipe["image_size"], recipe["classes"]) for s in ("train", "val"))
    torch.manual_seed(0)
    base = load_backbone("efficientnet_lite0", pretrained=True)
    zt, zv = block_outputs(base, xt), block_outputs(base, xv)
    print(f"{len(yt)} train / {len(yv)} val photos, {recipe['image_size']} px; block outputs in "
          f"{time.perf_counter() - started:.0f} s")
    for flavour, k in (("top", 1), ("top_k", 3)):
        torch.manual_seed(0)  # as the probe: seed 0, then the network, then the new head
        net = load_backbone("efficientnet_lite0", pretrained=True)
        R.replace_head(net, recipe["classes"])
        top = Top(net)
        R.set_trainable(top, flavour, k=k)  # the top k layers of the network are these modules
        optimizer = R.make_optimizer(top, recipe["lr"])
        t0 = time.perf_counter()
        for epoch in range(recipe["epochs"][flavour]):
            R.train_one_epoch(top, tensor_loader(zt, yt, recipe["batch_size"], shuffle=True, seed=epoch),
                              optimizer, "cpu")
        accuracy = R.evaluate(top, tensor_loader(zv, yv, 256), "cpu")
        print(f"{flavour:6s} val accuracy {accuracy:.3f} after {recipe['epochs'][flavour]} epochs "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
