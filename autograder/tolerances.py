"""Named tolerances: every numeric comparison in the kit takes its rtol/atol from here.

A value passes when ``|actual - expected| <= atol + rtol * |expected|`` elementwise
(``numpy.allclose``). float64 has about 16 significant digits; reference and student
code may sum in different orders, so ``RTOL`` leaves a few digits of room while still
failing any formula that is wrong, not just rounded differently.
"""

RTOL = 1e-7
ATOL = 1e-10

# "Exact to float64 precision" (log_softmax): a correct log-sum-exp agrees to ~1e-15
# relative; 1e-10 still separates it from log(softmax(z)), which is off by whole units
# (or infinite) wherever softmax underflows.
PRECISE_RTOL = 1e-10
PRECISE_ATOL = 1e-12
