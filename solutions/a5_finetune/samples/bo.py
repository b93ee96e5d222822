"""Reference solution for a5_finetune. A student's submission (demo).

Finetuning in three flavours (lecture: "Finetuning / Transfer Learning"): load ImageNet
weights, swap the 1000-class head for a fresh ``num_classes`` one, then train every layer
("all"), only the new head ("top") or the k top-most parameterised layers ("top_k").
Only torch is needed here: models come from the caller.
"""

import torch
import torch.nn.functional as F
from torch import nn

FLAVOURS = ("all", "top", "top_k")
MOMENTUM = 0.9


def _parameterised_layers(model):
    """[(name, module)] of the modules that own parameters directly, in registration order."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if next(module.parameters(recurse=False), None) is not None
    ]


def replace_head(model, num_classes):
    """Replace the model's last ``nn.Linear`` by a fresh ``in_features -> num_classes`` one.

    The new layer lives on the old one's device and dtype and keeps its bias choice; no
    other parameter or buffer is touched (everything below the head stays as loaded).
    Returns the same model object.
    """
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer to replace")
    name, old = linears[-1]
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    new = new.to(device=old.weight.device, dtype=old.weight.dtype)
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, new)
    return model


def set_trainable(model, flavour, k=1):
    """Set ``requires_grad`` for a finetuning flavour; return the sorted trainable names.

    flavour: "all" (every parameter), "top" (only the head: the last parameterised layer)
    or "top_k" (the k top-most parameterised layers, head included; k >= 1).
    Layers are the modules owning parameters directly, in registration order.
    """
    if flavour not in FLAVOURS:
        raise ValueError(f"flavour must be one of {FLAVOURS}, got {flavour!r}")
    layers = _parameterised_layers(model)
    if flavour == "all":
        trained = layers
    else:
        count = 1 if flavour == "top" else int(k)
        if count < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        trained = layers[-count:]
    trained_ids = {id(m) for _, m in trained}
    names = []
    for layer_name, module in layers:
        on = id(module) in trained_ids
        for p_name, p in module.named_parameters(recurse=False):
            p.requires_grad_(on)
            if on:
                names.append(f"{layer_name}.{p_name}" if layer_name else p_name)
    return sorted(names)


def make_optimizer(model, lr):
    """SGD with momentum 0.9 over the parameters with ``requires_grad`` only."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError("no trainable parameters: call set_trainable first")
    return torch.optim.SGD(trainable, lr=lr, momentum=MOMENTUM)


def _freeze_norm_statistics(model):
    """Put every normalisation layer whose parameters are all frozen into eval mode.

    In train mode a BatchNorm layer overwrites its running mean/variance on every forward
    pass, even when ``requires_grad`` is False: frozen means eval mode for these layers.
    """
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def train_one_epoch(model, loader, optimizer, device):
    """One pass over ``loader`` (batches ``(x: (B, 3, H, W), y: (B,))``) on ``device``.

    Minimises the mean cross-entropy with ``optimizer``; frozen layers stay exactly as
    loaded (their BatchNorm statistics too). Returns the mean training loss per sample.
    """
    model.to(device)
    model.train()
    _freeze_norm_statistics(model)
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / max(count, 1)


def evaluate(model, loader, device):
    """Top-1 accuracy in [0, 1] of ``model`` on ``loader``.

    Eval mode (BatchNorm uses its running statistics and leaves them alone, no dropout),
    no gradients; every module's train/eval flag is restored afterwards.
    """
    modes = {m: m.training for m in model.modules()}
    model.to(device)
    model.eval()
    correct, count = 0, 0
    try:
        with torch.no_grad():
            for x, y in loader:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                correct += (model(x).argmax(dim=1) == y).sum().item()
                count += len(y)
    finally:
        for module, mode in modes.items():
            module.train(mode)
    return correct / max(count, 1)


# model.train() for everything: frozen BatchNorm layers still update their running statistics
def train_one_epoch_bn_train_mode(model, loader, optimizer, device):
    model.to(device)
    model.train()  # frozen BatchNorm layers keep updating their running statistics
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)  # noqa: F821
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count

train_one_epoch = train_one_epoch_bn_train_mode


# hands every parameter, frozen ones included, to the optimizer
def make_optimizer_all_parameters(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)  # noqa: F821

make_optimizer = make_optimizer_all_parameters
