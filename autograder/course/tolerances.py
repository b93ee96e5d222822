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

# Against central finite differences (step 1e-6) of a float64 loss: the error is rounding,
# ~eps * |L| / step = 2.2e-16 * 10 / 1e-6 ~ 2e-9, plus truncation ~step^2 ~ 1e-12. atol 1e-7
# leaves a factor of about 50 over that; rtol 1e-5 covers the larger entries. A wrong gradient
# is off by a factor (N, C, -1) or by whole entries, far outside either bound.
FINITE_DIFFERENCE_RTOL = 1e-5
FINITE_DIFFERENCE_ATOL = 1e-7
