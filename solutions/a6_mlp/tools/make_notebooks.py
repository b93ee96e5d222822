"""Writes a6_mlp's stub notebook (assignments/a6_mlp/a6_mlp.ipynb) and the completed sample
(solutions/a6_mlp/samples/ada.ipynb, the stub with the reference's bodies), so the two never
drift apart. Run from the kit's root: ``.venv/bin/python solutions/a6_mlp/tools/make_notebooks.py``.
"""

import ast
import inspect
import sys
from pathlib import Path

import nbformat

KIT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(KIT / "solutions" / "a6_mlp"))
import reference  # noqa: E402

NAME = "a6_mlp"
md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

INTRO = r"""# a6_mlp — activations, backprop through hidden layers, training an MLP

`a4_backprop` stopped at the output layer. Here the gradient travels all the way down a multi-layer
perceptron (MLP), and you then train one on real handwritten digits. On the way you write the pieces that
make deep networks trainable in practice: activation functions and their derivatives, dropout, batch
normalisation, regression losses and weight decay.

| task | function | returns |
|---|---|---|
| 1 | `activation(z, kind, slope=0.01)` | $\varphi(z)$ elementwise for `relu`, `leaky_relu`, `elu`, `tanh`, `sigmoid` |
| 2 | `activation_grad(z, kind, slope=0.01)` | $\varphi'(z)$ elementwise |
| 3 | `mlp_forward(params, x, kind)` | `(logits, cache)` |
| 4 | `mlp_backward(params, cache, y, kind)` | `[(dW, db), ...]`, one pair per layer |
| 5 | `dropout_forward(x, p, rng, train)` | inverted dropout of `x` |
| 6 | `batchnorm_forward(x, gamma, beta, running, train, momentum=0.1, eps=1e-5)` | `(out, new_running)` |
| 7 | `mse_loss(pred, target)`, `l1_loss(pred, target)` | mean squared / mean absolute error (floats) |
| 8 | `l2_penalty(params, lam)` | $\lambda \sum_\ell \lVert W_\ell \rVert^2$, biases excluded |
| 9 | `train_mlp(sizes, data, rng, epochs, lr, batch_size, weight_decay, patience)` | `(params, history)` |

**Conventions used everywhere** (the grader relies on them):

- a layer is a pair `(W, b)` with `W` of shape `(out, in)` and `b` of shape `(out,)`; it computes
  `z = a_prev @ W.T + b` (as `init_mlp` in a3 and `output_layer_backward` in a4). `params` is a list of
  such pairs, first layer first.
- hidden layers apply $\varphi$; the **last layer is linear**: its `z` are the logits.
- NumPy only. Each function is graded on its own, so a function must not call another task's function
  (write a small private helper if two tasks need the same code). Helpers from earlier assignments must be
  **copied** into this notebook: an `import` of another assignment's notebook fails in grading.

After each task, `grader.check("<function>")` runs the public tests. Hidden tests use other inputs, torch.autograd
and finite differences."""

ACT = r"""## 1. Activation functions

| kind | $\varphi(z)$ | $\varphi'(z)$ |
|---|---|---|
| `relu` | $\max(0, z)$ | $1$ if $z > 0$, else $0$ |
| `leaky_relu` | $z$ if $z > 0$, else $a z$ | $1$ if $z > 0$, else $a$ |
| `elu` | $z$ if $z > 0$, else $a(e^{z} - 1)$ | $1$ if $z > 0$, else $a e^{z}$ |
| `tanh` | $\tanh z$ | $1 - \tanh^2 z$ |
| `sigmoid` | $\sigma(z) = 1 / (1 + e^{-z})$ | $\sigma(z)(1 - \sigma(z))$ |

$a$ is the argument `slope` (leaky ReLU's negative slope, and ELU's $\alpha$). PReLU is leaky ReLU with a
learned $a$.

**At the kinks.** ReLU, leaky ReLU and ELU are not differentiable at $z = 0$; any value between the left and
right derivatives is a valid subgradient. This kit fixes one: the *left* derivative, so $\mathrm{relu}'(0) = 0$,
$\mathrm{leaky\_relu}'(0) = a$, $\mathrm{elu}'(0) = a$ (PyTorch does the same for ReLU). Write `z > 0`, not `z >= 0`.

**Saturation.** For large $|z|$, $\tanh$ and $\sigma$ flatten out: $\sigma'(z) \le 1/4$ everywhere and
$\approx e^{-|z|}$ far out, so gradients through many saturated layers shrink geometrically (*vanishing
gradients*). A ReLU unit whose pre-activation is negative for every input has gradient 0 and never recovers
(a *dead ReLU*); leaky ReLU and ELU keep a small gradient on the negative side.

**Stability.** $1/(1 + e^{-z})$ overflows for $z = -1000$ ($e^{1000} = \infty$, with a warning). Compute
$\sigma$ from $e^{-|z|}$ only, as in a1, and $\sigma'$ as $s(1-s)$ from that stable $s$ — not as
$e^{-z}/(1+e^{-z})^2$, which gives $\infty/\infty$ = NaN."""

FWD = r"""## 2. Forward pass

With $a_0 = x$ and layers $\ell = 1, \dots, L$:

$$z_\ell = a_{\ell-1} W_\ell^\top + b_\ell, \qquad a_\ell = \varphi(z_\ell) \;(\ell < L), \qquad \text{logits} = z_L .$$

`mlp_forward` returns the logits and a **cache** the backward pass needs: a list with one pair
`(a_prev, z)` per layer — the layer's input $a_{\ell-1}$ and its pre-activation $z_\ell$."""

BWD = r"""## 3. Backward pass through hidden layers

At the top, as in a4, the mean softmax cross-entropy gives
$\delta_L = \partial L / \partial z_L = (\operatorname{softmax}(z_L) - \operatorname{onehot}(y)) / N$.
For each layer, from the top down:

$$\frac{\partial L}{\partial W_\ell} = \delta_\ell^\top a_{\ell-1}, \qquad
\frac{\partial L}{\partial b_\ell} = \sum_i \delta_{\ell, i}, \qquad
\delta_{\ell-1} = \bigl(\delta_\ell W_\ell\bigr) \odot \varphi'(z_{\ell-1}) .$$

The last formula is the lecture's $\delta = \operatorname{Diag}(\varphi'(z))\, W^\top \delta_{\text{next}}$ for one
sample written as a column; with samples as rows and `W` of shape `(out, in)` it is `(delta @ W) * phi'(z)`.
Two things go wrong often: forgetting the factor $\varphi'$, and taking $\varphi'$ of the activation $a$
instead of the pre-activation $z$ (for ReLU the two agree, for tanh they do not). Check shapes: `dW` has
`W`'s shape. `mlp_backward` reads only `params` and the cache."""

DROP = r"""## 4. Dropout

While training, dropout zeroes each unit independently with the **drop probability** $p$. This kit uses
**inverted dropout**, as PyTorch does: the kept units are scaled by $1/(1-p)$ while training, so the expected
value of every unit is unchanged and **nothing** is done at test time.

The mask must be reproducible, so draw it exactly like this, once per call while training (even for $p = 0$):

```python
keep = rng.random(x.shape) >= p      # True with probability 1 - p
```

and draw nothing at test time. *A warning about the lecture notes:* one set of notes writes the mask as
`rand < rate`, which keeps a unit with the drop probability, and scales by the rate at test time. With
inverted dropout both are wrong; the grader names them as common mistakes."""

BN = r"""## 5. Batch normalisation

For a batch `x` of shape `(N, D)`, each feature is normalised and then scaled and shifted by learned
`gamma`, `beta` of shape `(D,)`:

$$\hat x = \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}}, \qquad \text{out} = \gamma \hat x + \beta .$$

- **training** (`train=True`): $\mu$, $\sigma^2$ are the batch's mean and *biased* variance (divide by $N$). The
  running statistics move towards the batch's:
  `new_mean = (1 - momentum) * mean + momentum * batch_mean`, and the same for the variance with the
  *unbiased* batch variance (divide by $N - 1$), as PyTorch does.
- **eval** (`train=False`): $\mu$, $\sigma^2$ are the running statistics, which are returned unchanged.

`running` is a dict `{"mean": array (D,), "var": array (D,)}`; return a new dict of the same form (do not modify
the one you were given)."""

LOSS = r"""## 6. Regression losses

For predictions $f(x_i)$ and targets $y_i$ the notes define the L2 loss $\sum_i (y_i - f(x_i))^2$ and the L1
loss $\sum_i |y_i - f(x_i)|$. Here you write their **means** over every entry (as `torch.nn.MSELoss` and
`torch.nn.L1Loss` do by default). L2 punishes an outlier
quadratically, L1 only linearly (more robust, but its gradient does not shrink near the optimum).

The notes' example: differences 3, 4, 2, 2 and five zeros give the sums 33 (L2) and 11 (L1)."""

L2 = r"""## 7. L2 weight penalty

$R(W) = \lambda \sum_\ell \sum_{j,k} W_{\ell,jk}^2$ prefers spread-out weights: for $x = (1,1,1,1)$ the
weights $(1,0,0,0)$ and $(\tfrac14,\tfrac14,\tfrac14,\tfrac14)$ give the same output, but L2 penalties 1 and
0.25 (their L1 penalties are both 1). The **biases are not penalised**: they only shift a unit and do not
make the function any more complex."""

TRAIN = r"""## 8. Training an MLP with mini-batch SGD and early stopping

`data` is a dict with `x_train` `(N, D)`, `y_train` `(N,)`, `x_val`, `y_val`. Write `train_mlp` for a **ReLU**
network of widths `sizes` (e.g. `[64, 32, 10]`):

1. weights Kaiming-normal, `W ~ N(0, 2 / in)` of shape `(out, in)`, drawn layer by layer from `rng`; biases 0
   (a3's `init_mlp` — copy it in);
2. each epoch: `order = rng.permutation(N)`, then batches `order[k : k + batch_size]`; for each, forward,
   backward and one step `W -= lr * (dW + weight_decay * W)`, `b -= lr * db` (weight decay on weights only);
3. after each epoch, the mean cross-entropy of the validation set, `val_loss`, and its accuracy;
4. **early stopping**: keep a copy of the parameters whenever `val_loss` reaches a new minimum; stop after
   `patience` epochs in a row without one; return the **best** copy, not the last parameters.

Return `(params, history)` with `history = {"train_loss": [...], "val_loss": [...], "val_accuracy": [...],
"best_epoch": int}` (one float per epoch run). The grader trains with its own seeds on 1000 digits and scores
the returned network on **held-out** digits it never shows your code: it must reach 85%. A run takes well
under a second."""

SUBMIT = r"""## 9. Submit

1. Restart the kernel and **run all cells** from top to bottom (*Kernel → Restart Kernel and Run All Cells*). Check that
   no cell raises an error (a `NotImplementedError` means that task is still unfinished) and that every
   `grader.check` passes.
2. Save the notebook.
3. Run the cell below. It saves the notebook and packs it into a **zip file** next to this notebook, and it shows a link
   to that file. Upload that zip, unchanged, as your submission. The autograder grades the zip exactly as you
   exported it."""

TRY_ACT = """# Try it: expect relu [0. 0. 0. 2.], relu' [0. 0. 0. 1.] (relu'(0) = 0), sigmoid(-1000) = 0 without a warning.
z = np.array([-2.0, -0.5, 0.0, 2.0])
print(activation(z, "relu"), activation_grad(z, "relu"))
print(activation(np.array([-1000.0, 0.0, 1000.0]), "sigmoid"))"""

TRY_BWD = """# Gradient check: compare mlp_backward with central differences on a tiny tanh network (expect errors ~1e-9).
rng = np.random.default_rng(0)
params = [(rng.normal(size=(4, 3)), rng.normal(size=4)), (rng.normal(size=(2, 4)), rng.normal(size=2))]
x, y = rng.normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])


def mean_ce(logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    return -np.mean(shifted[np.arange(len(y)), y] - np.log(np.exp(shifted).sum(axis=1)))


logits, cache = mlp_forward(params, x, "tanh")
grads = mlp_backward(params, cache, y, "tanh")
h = 1e-6
W = params[0][0]
numeric = np.zeros_like(W)
for j in np.ndindex(W.shape):
    saved = W[j]
    W[j] = saved + h
    up = mean_ce(mlp_forward(params, x, "tanh")[0], y)
    W[j] = saved - h
    down = mean_ce(mlp_forward(params, x, "tanh")[0], y)
    W[j] = saved
    numeric[j] = (up - down) / (2 * h)
print("max |dW1 - numeric| =", np.abs(grads[0][0] - numeric).max())"""

TRY_DROP = """# Try it: about 50% of the ones become 2.0, the rest 0; at test time x comes back unchanged.
print(dropout_forward(np.ones((2, 6)), 0.5, np.random.default_rng(0), True))
print(dropout_forward(np.ones((2, 6)), 0.5, np.random.default_rng(0), False))"""

TRY_BN = """# Try it: in training each column of out has mean beta and standard deviation ~gamma.
out, new = batchnorm_forward(np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]]), np.array([1.0, 2.0]),
                             np.array([0.0, 1.0]), {"mean": np.zeros(2), "var": np.ones(2)}, True)
print(out.round(3), new)"""

TRY_LOSS = """# The notes' example: expect 33/9 = 3.667 and 11/9 = 1.222.
pred = np.array([12.0, 2.0, 24.0, 42.0, 23.0, 15.0, 20.0, 40.0, 25.0])
target = pred - np.array([3.0, -4.0, 2.0, -2.0, 0, 0, 0, 0, 0])
print(round(mse_loss(pred, target), 3), round(l1_loss(pred, target), 3))"""

TRY_L2 = """# The notes' example: expect 1.0 and 0.25 (the biases are ignored).
print(l2_penalty([(np.array([[1.0, 0.0, 0.0, 0.0]]), np.array([5.0]))], 1.0),
      l2_penalty([(np.full((1, 4), 0.25), np.array([5.0]))], 1.0))"""

TRY_TRAIN = """# Train on the digits (8x8 images, pixels 0..16 scaled to [0, 1]); expect a test accuracy around 0.95.
from pathlib import Path

if Path("data/digits_train_val.npz").exists():
    with np.load("data/digits_train_val.npz") as raw:
        digits = {k: raw[k] / 16.0 if k.startswith("x") else raw[k].astype(np.int64) for k in raw.files}
    params, history = train_mlp([64, 32, 10], digits, np.random.default_rng(0), epochs=30, lr=0.1,
                                batch_size=32, weight_decay=1e-4, patience=5)
    print("epochs run:", len(history["val_loss"]), " best epoch:", history["best_epoch"])
    with np.load("data/digits_test.npz") as test:
        a = test["x_test"] / 16.0
        for W, b in params[:-1]:
            a = np.maximum(a @ W.T + b, 0.0)
        logits = a @ params[-1][0].T + params[-1][1]
        print("test accuracy:", np.mean(logits.argmax(axis=1) == test["y_test"]))"""

SECTIONS = [
    (ACT, ["activation", "activation_grad"], TRY_ACT),
    (FWD, ["mlp_forward"], None),
    (BWD, ["mlp_backward"], TRY_BWD),
    (DROP, ["dropout_forward"], TRY_DROP),
    (BN, ["batchnorm_forward"], TRY_BN),
    (LOSS, ["mse_loss", "l1_loss"], TRY_LOSS),
    (L2, ["l2_penalty"], TRY_L2),
    (TRAIN, ["train_mlp"], TRY_TRAIN),
]

HELPERS = {"train_mlp": ["_phi", "_phi_grad", "_sigmoid", "_forward", "_backward", "_softmax", "_init", "_mean_ce"],
           "mlp_forward": ["_phi", "_sigmoid", "_forward"],
           "mlp_backward": ["_phi_grad", "_sigmoid", "_softmax", "_backward"],
           "activation": ["_phi", "_sigmoid"], "activation_grad": ["_phi_grad", "_sigmoid"]}


def _stub(name):
    """The reference's signature and docstring, and a body that raises."""
    node = ast.parse(inspect.getsource(getattr(reference, name))).body[0]
    doc = ast.get_docstring(node)
    params = ast.unparse(node.args)
    body = '\n'.join("    " + line if line else "" for line in doc.splitlines())
    return (f'def {name}({params}):\n    """{body.strip()}\n    """\n'
            f'    raise NotImplementedError("{NAME} task \'{name}\': implement {name}")')


def _solved(name):
    """The reference's function with the private helpers it uses."""
    sources = [inspect.getsource(getattr(reference, h)) for h in HELPERS.get(name, [])]
    return "\n\n".join(sources + [inspect.getsource(getattr(reference, name))]).rstrip()


def build(solved):
    cells = [md(INTRO), code(f'import otter\ngrader = otter.Notebook("{NAME}.ipynb")'), code("import numpy as np")]
    for text, names, try_it in SECTIONS:
        cells.append(md(text))
        for name in names:
            cells.append(code(_solved(name) if solved else _stub(name)))
            cells.append(code(f'grader.check("{name}")'))
        if try_it:
            cells.append(code(try_it))
    cells += [md(SUBMIT), code("grader.export(pdf=False, force_save=True)")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives the same file
        cell.id = f"{NAME}-cell-{i:02d}"
    return nb


def main(root=KIT):
    """root: write under this folder instead of the kit, at the same relative paths (the
    freshness test, tests/assignments/test_generated_files.py, compares the two)."""
    for solved, path in ((False, Path("assignments") / NAME / f"{NAME}.ipynb"),
                         (True, Path("solutions") / NAME / "samples" / "ada.ipynb")):
        (Path(root) / path).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(build(solved), Path(root) / path)


if __name__ == "__main__":
    main()
