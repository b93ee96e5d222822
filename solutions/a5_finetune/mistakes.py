"""Common mistakes in a5_finetune, each a plausible wrong implementation. HIDDEN.

A mistake's source is appended to reference.py (``Mistake.submission_source``), so it may
use the reference's imports and helpers (``torch``, ``nn``, ``F``, ``_parameterised_layers``).
"""

from autograder.course.mistakes import Mistake


def replace_head_first_linear(model, num_classes):
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):  # noqa: F821 - from reference.py
            parent_name, _, attribute = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attribute, nn.Linear(module.in_features, num_classes))  # noqa: F821
            return model
    return model


def replace_head_stacked(model, num_classes):
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]  # noqa: F821
    name, old = linears[-1]
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, nn.Sequential(old, nn.Linear(old.out_features, num_classes)))  # noqa: F821
    return model


def replace_head_reinit_everything(model, num_classes):
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]  # noqa: F821
    name, old = linears[-1]
    parent_name, _, attribute = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attribute, nn.Linear(old.in_features, num_classes))  # noqa: F821
    for module in model.modules():  # "fresh start": resets the pretrained weights too
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)):  # noqa: F821
            module.reset_parameters()
    return model


def set_trainable_counts_tensors(model, flavour, k=1):
    params = list(model.named_parameters())
    chosen = params if flavour == "all" else params[-(1 if flavour == "top" else k):]
    names = {n for n, _ in chosen}
    for n, p in params:
        p.requires_grad_(n in names)
    return sorted(names)


def set_trainable_top_children(model, flavour, k=1):
    children = [m for m in model.children() if any(True for _ in m.parameters())]
    chosen = children if flavour == "all" else children[-(1 if flavour == "top" else k):]
    ids = {id(p) for m in chosen for p in m.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) in ids)
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


def set_trainable_never_unfreezes(model, flavour, k=1):
    layers = _parameterised_layers(model)  # noqa: F821 - from reference.py
    trained = layers if flavour == "all" else layers[-(1 if flavour == "top" else k):]
    trained_ids = {id(m) for _, m in trained}
    for _, module in layers:
        if id(module) not in trained_ids:
            for p in module.parameters(recurse=False):
                p.requires_grad_(False)
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


def set_trainable_top_k_excludes_head(model, flavour, k=1):
    layers = _parameterised_layers(model)  # noqa: F821
    if flavour == "all":
        trained = layers
    elif flavour == "top":
        trained = layers[-1:]
    else:
        trained = layers[-k - 1:-1] + layers[-1:]  # k layers below the head, plus the head
    trained_ids = {id(m) for _, m in trained}
    for _, module in layers:
        for p in module.parameters(recurse=False):
            p.requires_grad_(id(module) in trained_ids)
    return sorted(n for n, p in model.named_parameters() if p.requires_grad)


def make_optimizer_all_parameters(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)  # noqa: F821


def make_optimizer_no_momentum(model, lr):
    return torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)  # noqa: F821


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


def train_one_epoch_eval_mode(model, loader, optimizer, device):
    model.to(device)
    model.eval()  # "keeps frozen layers safe", but no BatchNorm layer ever adapts, dropout is off
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


def train_one_epoch_no_zero_grad(model, loader, optimizer, device):
    model.to(device)
    model.train()
    _freeze_norm_statistics(model)  # noqa: F821
    total, count = 0.0, 0
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        loss = F.cross_entropy(model(x), y)  # noqa: F821 - gradients pile up across batches
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        count += len(y)
    return total / count


def train_one_epoch_returns_last_loss(model, loader, optimizer, device):
    model.to(device)
    model.train()
    _freeze_norm_statistics(model)  # noqa: F821
    loss = None
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)  # noqa: F821
        loss.backward()
        optimizer.step()
    return loss.item()


def evaluate_train_mode(model, loader, device):
    correct, count = 0, 0
    with torch.no_grad():  # noqa: F821 - but BatchNorm and dropout still in train mode
        for x, y in loader:
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
            count += len(y)
    return correct / count


def evaluate_mean_of_batches(model, loader, device):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    accuracies = []
    with torch.no_grad():  # noqa: F821
        for x, y in loader:
            accuracies.append((model(x.to(device)).argmax(1) == y.to(device)).float().mean().item())
    for m, mode in modes.items():
        m.train(mode)
    return sum(accuracies) / len(accuracies)


def evaluate_with_grad(model, loader, device):
    modes = {m: m.training for m in model.modules()}
    model.eval()
    correct, count = 0, 0
    for x, y in loader:  # builds an autograd graph for every batch: memory for nothing
        correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
        count += len(y)
    for m, mode in modes.items():
        m.train(mode)
    return correct / count


def evaluate_leaves_eval_mode(model, loader, device):
    model.eval()
    correct, count = 0, 0
    with torch.no_grad():  # noqa: F821
        for x, y in loader:
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
            count += len(y)
    return correct / count


MISTAKES = [
    Mistake("replace_head_first_linear", "replace_head",
            "replaces the first nn.Linear instead of the last (MobileNet v3's classifier has two)",
            replace_head_first_linear),
    Mistake("replace_head_stacked", "replace_head",
            "stacks a new layer on top of the 1000-class head instead of replacing it",
            replace_head_stacked),
    Mistake("replace_head_reinit_everything", "replace_head",
            "re-initialises the pretrained layers too: nothing is transferred",
            replace_head_reinit_everything),
    Mistake("set_trainable_counts_tensors", "set_trainable",
            "counts parameter tensors (weight, bias) instead of layers for top/top_k",
            set_trainable_counts_tensors),
    Mistake("set_trainable_top_children", "set_trainable",
            "counts the model's top-level children instead of the layers that own parameters",
            set_trainable_top_children),
    Mistake("set_trainable_never_unfreezes", "set_trainable",
            "only ever freezes: a later call cannot make a frozen layer trainable again",
            set_trainable_never_unfreezes),
    Mistake("set_trainable_top_k_excludes_head", "set_trainable",
            "top_k trains k layers below the head plus the head (k+1 layers)",
            set_trainable_top_k_excludes_head),
    Mistake("make_optimizer_all_parameters", "make_optimizer",
            "hands every parameter, frozen ones included, to the optimizer",
            make_optimizer_all_parameters),
    Mistake("make_optimizer_no_momentum", "make_optimizer",
            "plain SGD without momentum", make_optimizer_no_momentum),
    Mistake("train_bn_train_mode", "train_one_epoch",
            "model.train() for everything: frozen BatchNorm layers still update their running statistics",
            train_one_epoch_bn_train_mode),
    Mistake("train_eval_mode", "train_one_epoch",
            "trains in eval mode: BatchNorm statistics never adapt, not even in the 'all' flavour",
            train_one_epoch_eval_mode),
    Mistake("train_no_zero_grad", "train_one_epoch",
            "never zeroes the gradients: each step uses the sum of all earlier batches' gradients",
            train_one_epoch_no_zero_grad),
    Mistake("train_returns_last_loss", "train_one_epoch",
            "returns the last batch's loss instead of the epoch's mean",
            train_one_epoch_returns_last_loss),
    Mistake("evaluate_train_mode", "evaluate",
            "evaluates in train mode: BatchNorm uses batch statistics and overwrites its running ones, "
            "dropout is on", evaluate_train_mode),
    Mistake("evaluate_mean_of_batches", "evaluate",
            "averages per-batch accuracies: wrong when the last batch is smaller",
            evaluate_mean_of_batches),
    Mistake("evaluate_with_grad", "evaluate",
            "evaluates with autograd on (no torch.no_grad()): memory and time for nothing",
            evaluate_with_grad),
    Mistake("evaluate_leaves_eval_mode", "evaluate",
            "switches the model to eval mode and leaves it there", evaluate_leaves_eval_mode),
]
