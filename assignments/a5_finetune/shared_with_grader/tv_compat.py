"""Import torchvision on machines where its compiled operators do not load.

Why this file exists: torchvision wheels on PyPI are CUDA builds. Next to the CPU build of
torch (2.13.0+cpu on the course machines) torchvision's C++ extension fails to load, and
``import torchvision`` then raises

    RuntimeError: operator torchvision::nms does not exist

from ``torchvision/_meta_registrations.py``, which registers fake (meta) kernels for
detection operators (nms, roi_align, ...) without first checking that they exist.
Nothing this course uses (models, transforms, datasets) needs those operators.

``import_torchvision()`` is the one place the kit deals with this:
- where torchvision imports normally it is a plain ``import torchvision`` (a no-op fix);
- otherwise it forgets the half-imported package, puts an empty stand-in for the one
  broken sub-module in ``sys.modules`` and imports again. Models, transforms and datasets
  then work; detection operators (``torchvision.ops.nms`` ...) still raise when called.

Standard library and torch only: the student notebook, the grader's sandbox (next to
``probes.py``) and the kit's tests all import this same file of the ``shared_with_grader``
package.

    from shared_with_grader.tv_compat import import_torchvision
    torchvision = import_torchvision()
"""

from __future__ import annotations

import sys
import types

_BROKEN_MODULE = "torchvision._meta_registrations"
_STAND_IN_DOC = "Empty stand-in: torchvision's C++ operators are unavailable (see tv_compat.py)."


def _forget_torchvision() -> None:
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]


def import_torchvision():
    """Return the ``torchvision`` module, working around CPU-torch/CUDA-torchvision builds.

    Raises ImportError when torchvision is not installed, and re-raises any failure that is
    not the missing-operator one.
    """
    if "torchvision" in sys.modules and hasattr(sys.modules["torchvision"], "models"):
        return sys.modules["torchvision"]
    try:
        import torchvision
        return torchvision
    except RuntimeError as error:
        if "torchvision::" not in str(error):
            raise
    _forget_torchvision()
    stand_in = types.ModuleType(_BROKEN_MODULE, _STAND_IN_DOC)
    sys.modules[_BROKEN_MODULE] = stand_in
    import torchvision
    return torchvision


def torchvision_ops_available() -> bool:
    """True when torchvision's compiled operators (nms, roi_align, ...) are loaded."""
    torchvision = import_torchvision()
    return bool(torchvision.extension._has_ops())
