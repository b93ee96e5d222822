"""Modules shared by your notebook and the grader (a5_finetune).

Your notebook imports them (``from shared_with_grader.flowers import find_flowers``), and so
does the autograder: its tests build the same backbones and read the same photos as you do.

- ``backbones``: ImageNet-pretrained networks (EfficientNet-Lite0 offline, torchvision's);
- ``flowers``: the Oxford 102 Flowers photos as tensors or torchvision datasets;
- ``photo_files``: where the photos are and which files a split uses (no torch needed);
- ``tv_compat``: importing torchvision next to a CPU-only torch.

The grader uses its own copy of these files, not yours: editing them changes nothing about
your grade (and a notebook that relies on an edited copy may fail when graded). Your work
goes in the notebook's five functions.
"""
