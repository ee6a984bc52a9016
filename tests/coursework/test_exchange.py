"""What crosses the sandbox's wall: returned values survive the trip exactly, nothing else does.

Decoding builds only numbers, tuples and numeric arrays, and refuses anything malformed or too
large before allocating it; the hidden cases are the same on both sides for the same key and
differ from the public ones.
"""

import numpy as np
import pytest

from ce_lessons.coursework.exchange import (
    MAX_ELEMENTS,
    Failure,
    Invalid,
    decode,
    encode,
    hidden_args,
    hidden_key,
)

VALUES = [
    2.0,
    3,
    None,
    np.float64(2.5),
    np.array(2.0),
    np.array([1.0, np.nan, -np.inf]),
    np.arange(12, dtype=np.int64).reshape(3, 4),
    np.array([True, False]),
    (np.zeros((2, 0)), 1.5),
    [np.float32(1.25), np.int8(-3)],
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_returned_value_survives_the_trip_exactly(value):
    back = decode(encode(value))
    if isinstance(value, (tuple, list)):
        assert type(back) is type(value) and len(back) == len(value)
        for a, b in zip(value, back):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
            assert np.shape(a) == np.shape(b)
    elif value is None:
        assert back is None
    else:
        np.testing.assert_array_equal(np.asarray(value), np.asarray(back))
        assert np.shape(back) == np.shape(value)


def test_a_torch_tensor_comes_back_as_an_array():
    torch = pytest.importorskip("torch")
    back = decode(encode(torch.ones(2, 3, requires_grad=True) * 2))
    assert isinstance(back, np.ndarray) and back.shape == (2, 3)


def test_objects_and_huge_arrays_become_errors_not_data():
    assert isinstance(decode(encode(object())), Failure)
    huge = decode(encode(np.zeros(MAX_ELEMENTS + 1)))
    assert isinstance(huge, Failure) and "more than" in huge.text


@pytest.mark.parametrize(
    "data",
    [
        {"t": "array", "dtype": "|O", "shape": [1], "data": ""},
        {"t": "array", "dtype": "<f8", "shape": [10**9], "data": ""},
        {"t": "array", "dtype": "<f8", "shape": [2], "data": "AAAA"},
        {"t": "array", "dtype": "<f8", "shape": [-1], "data": ""},
        {"t": "pickle", "v": "gASV"},
        {"t": "num", "v": "1"},
        {"t": "tuple", "v": [{"t": "none"}] * 100},
        "not a dict",
    ],
)
def test_malformed_or_oversized_data_is_refused(data):
    with pytest.raises(Invalid):
        decode(data)


def test_hidden_cases_are_reproducible_secret_and_different_from_public():
    public = [
        (np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.0]]), np.array([2, 0]))
    ]
    key = hidden_key("seed", "ex")
    one, two = hidden_args(public, key), hidden_args(public, key)
    np.testing.assert_array_equal(one[0][0], two[0][0])
    assert not np.allclose(one[0][0], public[0][0])
    assert sorted(one[0][1]) == [0, 2]  # targets permuted, not changed
    other = hidden_args(public, hidden_key("another seed", "ex"))
    assert not np.allclose(one[0][0], other[0][0])


def test_probabilities_stay_probabilities_in_hidden_cases():
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.5, 0.5]])
    (q,) = hidden_args([(p,)], "k")[0]
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert (q >= 0).all() and not np.allclose(q, p[np.argsort(q[:, 0])])
