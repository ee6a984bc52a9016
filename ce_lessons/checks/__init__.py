"""Self-checks for the exercises: run a learner's function on public cases and say what went wrong.

Each checker takes the learner's function, runs it on a few public cases (edge cases included:
huge logits, one class, a batch of one, ignored targets), compares each result with ``ce_lessons``,
and returns a :class:`CheckResult`. When a case fails, the checker compares the learner's outputs
with the outputs of the classic mistakes (no max shift, softmax over the wrong dimension, sum
where the mean was expected, …) and gives the matching hint, in a sentence or two, without the
solution. The same checkers grade submitted notebooks, so a learner's self-check and the
instructor's score never disagree.

>>> from ce_lessons import checks
>>> import numpy as np
>>> checks.softmax(lambda x, dim: x).passed  # returned the logits unchanged
False
"""

from ._framework import Case, CheckResult, Mistake, run_check
from .ch1 import channels_first, logits_from_probs, softmax
from .ch2 import cross_entropy, double_softmax_loss, log_softmax
from .ch3 import cross_entropy_grad, finite_difference, smoothed_grad
from .ch4 import bce_with_logits, two_class_as_binary
from .ch5 import smoothed_target, weighted_cross_entropy
from .ch6 import one_unit_binary_loss, sequence_logits_loss, void_mask_loss
from .ch7 import (
    distillation_loss,
    fit_temperature,
    kl_batchmean,
    smoothing_floor,
)
from .ch8 import accumulated_loss, causal_lm_loss

__all__ = [
    # chapter 8
    "accumulated_loss",
    "causal_lm_loss",
    "Case",
    "CheckResult",
    "Mistake",
    "bce_with_logits",
    "channels_first",
    "cross_entropy",
    "cross_entropy_grad",
    "distillation_loss",
    "double_softmax_loss",
    "finite_difference",
    "fit_temperature",
    "kl_batchmean",
    "log_softmax",
    "logits_from_probs",
    "run_check",
    "smoothed_grad",
    "smoothed_target",
    "smoothing_floor",
    "softmax",
    "two_class_as_binary",
    "weighted_cross_entropy",
    # chapter 6
    "one_unit_binary_loss",
    "sequence_logits_loss",
    "void_mask_loss",
]
