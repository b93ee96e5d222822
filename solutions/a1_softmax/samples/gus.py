# Allocates far more memory than any grader allows.
import numpy as np
big = np.ones((200_000, 200_000))
