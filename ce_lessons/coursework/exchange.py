"""What crosses the sandbox's wall, and how both sides agree on the cases.

- :func:`encode` / :func:`decode`: a value a learner's function returned, as strict JSON (numbers,
  strings, lists, and numeric arrays as dtype + shape + base64 bytes). Never a pickle: decoding
  builds only numpy arrays of numeric dtypes, Python numbers and tuples, with sizes checked first.
- :func:`hidden_args`: the generic hidden cases of a checker that has no hidden-case builder,
  derived from its public cases by a keyed random permutation of the batch and a perturbation of
  the float inputs; the sandbox and the judge derive the same ones from the same key.
- :func:`hidden_key`: the per-exercise key derived from the instructor's seed (the seed itself
  never enters a sandbox).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math

import numpy as np

MAX_ELEMENTS = 1_000_000  # one returned array
MAX_ITEMS = 64  # one returned tuple or list
MAX_DEPTH = 4
MAX_TEXT = 300


class Invalid(ValueError):
    """A message from the sandbox that does not follow the format."""


def encode(value, depth=0):
    """A returned value as JSON-able data (inside the sandbox)."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, int, float)) and not isinstance(
        value, np.generic
    ):
        if not isinstance(value, bool) and abs(value) > 2**63:
            return {"t": "num", "v": float(value)}
        return {"t": "num", "v": value}
    if isinstance(value, str):
        return {"t": "str", "v": value[:MAX_TEXT]}
    if isinstance(value, (tuple, list)) and depth < MAX_DEPTH:
        if len(value) > MAX_ITEMS:
            return raised("ValueError", f"returned {len(value)} items")
        return {
            "t": "tuple" if isinstance(value, tuple) else "list",
            "v": [encode(v, depth + 1) for v in value],
        }
    try:
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            array = np.asarray(value, dtype=np.float64)
    except Exception:
        return raised(
            "TypeError", f"returned a {type(value).__name__}, not numbers"
        )
    if array.size > MAX_ELEMENTS:
        return raised(
            "ValueError",
            f"returned an array of {array.size} numbers (more than "
            f"{MAX_ELEMENTS})",
        )
    array = np.array(array, order="C")  # (ascontiguousarray makes 0-d 1-d)
    return {
        "t": "array",
        "dtype": array.dtype.str,
        "shape": list(array.shape),
        "data": base64.b64encode(array.tobytes()).decode("ascii"),
    }


def raised(kind, text):
    return {
        "t": "raised",
        "kind": str(kind)[:60],
        "text": str(text)[:MAX_TEXT],
    }


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Invalid("not a number")
    if isinstance(value, int) and abs(value) > 2**63:
        raise Invalid("integer too large")
    return value


def decode(data, depth=0):
    """JSON data from :func:`encode` back into numbers, tuples and arrays (in the grader).

    A ``raised`` entry becomes a :class:`Returned` error marker; anything else raises
    :class:`Invalid`.
    """
    if not isinstance(data, dict) or depth > MAX_DEPTH + 1:
        raise Invalid("not an encoded value")
    kind = data.get("t")
    if kind == "none":
        return None
    if kind == "num":
        return _number(data.get("v"))
    if kind == "str":
        return str(data.get("v", ""))[:MAX_TEXT]
    if kind in ("tuple", "list"):
        items = data.get("v")
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise Invalid("bad sequence")
        values = [decode(v, depth + 1) for v in items]
        return tuple(values) if kind == "tuple" else values
    if kind == "raised":
        return Failure(
            str(data.get("kind", ""))[:60],
            str(data.get("text", ""))[:MAX_TEXT],
        )
    if kind == "array":
        dtype = np.dtype(str(data.get("dtype", "")))
        if dtype.kind not in "biuf" or dtype.itemsize > 16:
            raise Invalid("bad dtype")
        shape = data.get("shape")
        if not isinstance(shape, list) or len(shape) > 32:
            raise Invalid("bad shape")
        shape = tuple(_number(s) for s in shape)
        if any(not isinstance(s, int) or s < 0 for s in shape):
            raise Invalid("bad shape")
        size = math.prod(shape)
        if size > MAX_ELEMENTS:
            raise Invalid("array too large")
        text = data.get("data")
        if not isinstance(text, str) or len(text) > 4 * (
            size * dtype.itemsize // 3 + 3
        ):
            raise Invalid("bad data")
        raw = base64.b64decode(text, validate=True)
        if len(raw) != size * dtype.itemsize:
            raise Invalid("data does not match the shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    raise Invalid("unknown kind")


class Failure:
    """What a learner's function raised inside the sandbox: its type name and message."""

    def __init__(self, kind, text):
        self.kind, self.text = kind, text

    def exception(self):
        name = "".join(c for c in self.kind if c.isalnum() or c == "_")
        name = name if name and not name[0].isdigit() else "Error"
        return type(name, (Exception,), {})(self.text)


# --- keys and hidden cases ----------------------------------------------------------------


def hidden_key(seed: str, exercise: str) -> str:
    """The key of one exercise's hidden cases, derived from the instructor's seed."""
    return hmac.new(
        str(seed).encode(), exercise.encode(), hashlib.sha256
    ).hexdigest()


def rng_for(key: str, *parts) -> np.random.Generator:
    digest = hashlib.sha256(
        "/".join([key, *map(str, parts)]).encode()
    ).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _is_distribution(x):
    """The axis along which a float array holds probabilities summing to 1, or None."""
    if x.ndim == 0 or x.size == 0 or np.any(x < 0) or np.any(x > 1):
        return None
    for axis in range(x.ndim):
        if x.shape[axis] > 1 and np.allclose(x.sum(axis=axis), 1.0):
            return axis
    return None


def _perturb(x, rng):
    axis = _is_distribution(x)
    if axis is not None:  # stay a distribution: noise in log space
        with np.errstate(divide="ignore"):
            z = np.log(x) + rng.normal(scale=0.5, size=x.shape)
        z = z - np.max(z, axis=axis, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=axis, keepdims=True)
    if np.all(x >= 0):  # weights, sizes, scales: stay non-negative
        return x * np.exp(rng.normal(scale=0.3, size=x.shape))
    finite = np.isfinite(x)
    scale = 0.5 * (np.std(x[finite]) if finite.any() else 0.0) + 0.25
    return np.where(finite, x + rng.normal(scale=scale, size=x.shape), x)


def hidden_args(public_args: list, key: str) -> list:
    """One hidden case per public case: the batch (axis 0 of every array argument of the same
    length) permuted, and float arrays perturbed; integers (targets, sizes) and scalars kept."""
    hidden = []
    for index, args in enumerate(public_args):
        rng = rng_for(key, index)
        arrays = [a for a in args if isinstance(a, np.ndarray) and a.ndim]
        n = arrays[0].shape[0] if arrays else 0
        order = rng.permutation(n) if n > 1 else None
        new = []
        for a in args:
            if isinstance(a, np.ndarray) and a.ndim:
                if order is not None and a.shape[0] == n:
                    a = a[order]
                if a.dtype.kind == "f":
                    a = _perturb(a, rng)
                a = np.array(a)
            new.append(a)
        hidden.append(tuple(new))
    return hidden
