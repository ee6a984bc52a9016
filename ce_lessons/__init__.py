"""ce_lessons: PyTorch's cross-entropy losses in plain numpy, every function verified against torch.

The companion package of the course "Cross-Entropy, Under the Hood". The names, arguments,
defaults, shapes and results mirror ``torch.nn.functional``; everything is computed in float64;
inputs may be numpy arrays, Python lists or torch tensors (torch is never imported here).

>>> import ce_lessons as ce
>>> round(ce.cross_entropy([[2.0, 1.0, 0.1]], [0]), 4)
0.417
"""

from .gradients import (
    binary_cross_entropy_with_logits_grad,
    cross_entropy_grad,
    finite_difference_grad,
    softmax_jacobian,
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
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad",
    "cross_entropy",
    "cross_entropy_grad",
    "finite_difference_grad",
    "log_sigmoid",
    "log_softmax",
    "logit",
    "logits_from_probs",
    "logsumexp",
    "nll_loss",
    "one_hot",
    "sigmoid",
    "softmax",
    "softmax_jacobian",
]
