"""ce_lessons: PyTorch's cross-entropy losses in plain numpy, every function verified against torch.

The companion package of the course "Cross-Entropy, Under the Hood". The names, arguments,
defaults, shapes and results mirror ``torch.nn.functional``; everything is computed in float64;
inputs may be numpy arrays, Python lists or torch tensors (torch is never imported here).
Options after ``weight`` are keyword-only, because torch's positional order has deprecated
arguments in those slots.

Reading order (each file reads on its own, top to bottom):

1. ``probabilities.py``: logsumexp, softmax, log-softmax, sigmoid: from logits to probabilities.
2. ``losses.py``: nll_loss, cross_entropy and the binary losses: pick, weight, reduce.
3. ``gradients.py``: each loss's gradient (p − y and its variants), finite differences.
4. ``logits.py``: back from probabilities to logits (chapter 1's question).
5. ``_validate.py``: every argument check and its message, in one place.

Then the later chapters' modules, the self-checks (``checks/``) and the coursework tools
(``coursework/``: ``ce-assign`` and ``ce-grade``).

>>> import ce_lessons as ce
>>> round(ce.cross_entropy([[2.0, 1.0, 0.1]], [0]), 4)
0.417
"""

from .diagnosis import diagnose
from .gradients import (
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits_grad,
    cross_entropy_grad,
    finite_difference_grad,
    softmax_jacobian,
)
from .imbalance import (
    class_counts,
    effective_number_weights,
    focal_loss,
    inverse_frequency_weights,
)
from .information import (
    distillation_loss,
    entropy,
    expected_calibration_error,
    fit_temperature,
    kl_div,
    nats_to_bits,
    perplexity,
    reliability_bins,
)
from .logits import logit, logits_from_probs
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    nll_loss,
)
from .probabilities import (
    log_sigmoid,
    log_softmax,
    logsumexp,
    one_hot,
    sigmoid,
    softmax,
)

__version__ = "0.1.0"

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "class_counts",
    "cross_entropy",
    "cross_entropy_grad",
    "diagnose",
    "distillation_loss",
    "effective_number_weights",
    "entropy",
    "expected_calibration_error",
    "finite_difference_grad",
    "fit_temperature",
    "focal_loss",
    "inverse_frequency_weights",
    "kl_div",
    "log_sigmoid",
    "log_softmax",
    "logit",
    "logits_from_probs",
    "logsumexp",
    "nats_to_bits",
    "nll_loss",
    "one_hot",
    "perplexity",
    "reliability_bins",
    "sigmoid",
    "softmax",
    "softmax_jacobian",
]
