"""Parameter constraints, declared the scikit-learn way.

The estimator declares ``_parameter_constraints`` and the public functions
declare theirs with ``validate_params``, as scikit-learn does. The machinery
lives in ``sklearn.utils._param_validation``, which is private to
scikit-learn; this is the one place that imports it, so that if it moves, one
line changes.

Two additions keep skimp's checks as strict as they were written by hand.
They subclass scikit-learn's own constraint classes, because
``validate_params`` accepts no other:

* :class:`NotBoolInterval` refuses booleans, which ``Interval`` accepts
  because ``bool`` is an ``int``.
* :class:`PositiveInts` is a sequence of integers >= 1, such as an image
  shape or hidden layer sizes.

Checks that constraints cannot express (between parameters, or against the
data) stay in the functions' bodies, as in scikit-learn.
"""

from numbers import Integral

import numpy as np
from sklearn.utils._param_validation import (  # the one import of this module
    HasMethods,
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
    validate_params,
)

__all__ = ["HasMethods", "Hidden", "Interval", "InvalidParameterError", "NotBoolInterval",
           "Options", "PositiveInts", "StrOptions", "validate_parameter_constraints",
           "validate_params"]


def is_bool(value):
    """Whether ``value`` is a Python or numpy boolean."""
    return isinstance(value, (bool, np.bool_))


class NotBoolInterval(Interval):
    """An ``Interval`` that refuses booleans.

    Parameters
    ----------
    type, left, right, closed
        As in scikit-learn's ``Interval``.

    Examples
    --------
    >>> from numbers import Integral
    >>> from skimp._validation import NotBoolInterval
    >>> positive = NotBoolInterval(Integral, 1, None, closed="left")
    >>> positive.is_satisfied_by(1), positive.is_satisfied_by(True)
    (True, False)
    """

    def is_satisfied_by(self, val):
        return not is_bool(val) and super().is_satisfied_by(val)


class PositiveInts(HasMethods):
    """A sequence of integers >= 1 (not booleans), of ``length`` items if given.

    A refinement of ``HasMethods(["__len__", "__iter__"])``: sized, so that
    checking does not consume an iterator, and not a string.

    Parameters
    ----------
    description : str
        What the error message says the parameter must be.
    length : int, default=None
        The number of items; any number when None.

    Examples
    --------
    >>> from skimp._validation import PositiveInts
    >>> shape = PositiveInts("a (channels, height, width) tuple", length=3)
    >>> shape.is_satisfied_by((1, 28, 28)), shape.is_satisfied_by((28, 28))
    (True, False)
    """

    def __init__(self, description, *, length=None):
        super().__init__(["__len__", "__iter__"])
        self.description = description
        self.length = length

    def is_satisfied_by(self, val):
        if isinstance(val, (str, bytes)) or not super().is_satisfied_by(val):
            return False
        if self.length is not None and len(val) != self.length:
            return False
        return all(isinstance(v, Integral) and not is_bool(v) and v >= 1 for v in val)

    def __str__(self):
        return self.description
