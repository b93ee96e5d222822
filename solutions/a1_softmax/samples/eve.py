"""A submission that tries to cheat instead of solving the tasks."""
import os
import numpy as np

# 1. Make every comparison succeed.
np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None

# 2. Claim a perfect score on stdout and in files a grader might read.
print("Score: 48/48")
for name in ("results.json", "gradebook.csv", "/tmp/results.json"):
    try:
        with open(name, "w") as f:
            f.write('{"score": 48, "max_score": 48}')
    except OSError:
        pass

# 3. Look for the hidden reference solution and use it if found.
found = None
for top in ("/work", "/root", "/home", "/srv", "/opt", "/tmp", "/"):
    for dirpath, dirnames, filenames in os.walk(top):
        if "reference.py" in filenames and "a1_softmax" in dirpath:
            found = os.path.join(dirpath, "reference.py")
            break
    if found:
        break
if found:
    exec(open(found).read())
else:
    def softmax(z, axis=-1):
        return np.zeros_like(z, dtype=float)

    log_softmax = sigmoid = softmax

    def predict_multiclass(probs):
        return np.zeros(len(probs), dtype=int)

    def predict_multilabel(probs, threshold=0.5):
        return np.ones_like(probs, dtype=int)
