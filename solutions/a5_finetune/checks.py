"""a5_finetune checks: judge results where equality with the reference is the wrong test. HIDDEN.

Runs in the grader only. A short finetune's accuracy depends on float rounding, thread
scheduling and the student's (valid) choices, so it is judged against thresholds instead
of the reference's exact accuracy.
"""

# Set from the reference's own runs of the short finetune (spec.FINETUNE: 10 classes, 8
# photos each, 64 px, 5 epochs, 2 CPU cores): finetuned 0.62-0.74 over seeds and flavours'
# learning rates, from scratch 0.09-0.16, chance 0.10. The bars sit well below the first
# and well above the second, so a correct submission passes with a wide margin.
MIN_TIMES_CHANCE = 3.0      # finetuned accuracy >= 3 x chance (0.30 for 10 classes)
MIN_GAIN_OVER_SCRATCH = 0.15


def finetune_beats_scratch(case, got, expected):
    """got: (accuracy finetuned, accuracy from scratch, chance) from the student's run."""
    if len(got) != 3 or any(g.size != 1 for g in got):
        return "the short finetune did not return its accuracies"
    finetuned, scratch, chance = (float(g) for g in got)
    if not (0.0 <= finetuned <= 1.0 and 0.0 <= scratch <= 1.0):
        return "evaluate returned an accuracy outside [0, 1] during the short finetune"
    reference_chance = float(expected[2])
    if abs(chance - reference_chance) > 1e-12:
        return "the short finetune did not run as set up by the grader"
    if finetuned < MIN_TIMES_CHANCE * reference_chance:
        return (f"after a short finetune of the pretrained network the validation accuracy was "
                f"{finetuned:.2f}; it should be at least {MIN_TIMES_CHANCE:g} x chance "
                f"({MIN_TIMES_CHANCE * reference_chance:.2f})")
    if finetuned < scratch + MIN_GAIN_OVER_SCRATCH:
        return (f"finetuning reached {finetuned:.2f}, training from scratch {scratch:.2f}: the "
                f"pretrained start should win by at least {MIN_GAIN_OVER_SCRATCH:.2f}")
    return None
