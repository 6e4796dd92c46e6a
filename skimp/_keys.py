"""The run key of a checkpointed fit: parameters, data and code, described stably.

:func:`run_key` hashes a text that fixes what a fit computes, the same in
every process, so that a rerun finds the levels of an earlier one and two
settings that can train differently never share a key. Imported from
:mod:`skimp.checkpoints`, which names its folders with it.
"""

import enum
import functools
import hashlib
import inspect
import io
import os
import random
import re
import sys
import types
import warnings
import weakref

import numpy as np
import torch
from skorch.callbacks import Callback
from torch.utils.hooks import RemovableHandle

__all__ = ["describe_architecture", "run_key"]

# Parameters that cannot change what any single level computes. Leaving them
# out of the key lets a rerun with more levels or another selection rule reuse
# the levels already done (selection is keyed with early_stopping=True). The
# calibration is fitted after the levels, from their weights, and refitted on
# resume, so a calibrated rerun reuses the levels of an uncalibrated run.
_KEY_EXCLUDED = {"verbose", "checkpoint_dir", "max_levels", "patience", "selection",
                 "calibration", "calibration_noise"}


# Top-level packages whose functions and classes are keyed by their qualified
# name alone: their code changes only with their version, and describing it
# would walk the whole library. Everything else (the user's code, skimp's
# own) is keyed by its bytecode. "builtins" is left out: code run by exec()
# without a __name__ claims that module (see _is_library_class).
_LIBRARIES = frozenset({"torch", "skorch", "sklearn", "numpy", "scipy", "joblib"}
                       | set(sys.stdlib_module_names) - {"builtins"})

# Set on every class made by a class statement; unset on C's static types.
_HEAPTYPE = 1 << 9

# Entries of a class's ``__dict__`` that say nothing about what it does:
# names, docs, line numbers, type hints, and caches that copy and abc fill
# in after the fact (so a class would change its key once copied).
_CLASS_NOISE = frozenset({"__module__", "__qualname__", "__doc__", "__dict__", "__weakref__",
                          "__firstlineno__", "__annotations__", "__slotnames__", "_abc_impl"})

# What every torch module holds in its instance dict: its hooks, which the
# key leaves out, and its tables of parameters, buffers and submodules, which
# _module keys on their own. Everything else a module instance holds, private
# attributes included, can change what its forward computes.
_MODULE_BOOKKEEPING = frozenset(vars(torch.nn.Module()))

# A memory address in a repr: the text changes from one process to the next.
_ADDRESS = re.compile(r"\bat 0x[0-9a-fA-F]+")

_PLAIN = (type(None), bool, int, float, complex, str, bytes, type(Ellipsis),
          type(NotImplemented), range, slice)


class _Unstable(Exception):
    """A value that has no description that is the same in every process."""


def _is_library(module_name):
    return (module_name or "").partition(".")[0] in _LIBRARIES


def _is_library_class(cls):
    """A library's class, or a C type such as int or object."""
    return _is_library(cls.__module__) or not cls.__flags__ & _HEAPTYPE


def _qualname(obj):
    return f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _digest(data):
    return hashlib.sha256(data).hexdigest()


def _tensor_bytes(tensor):
    """The raw bytes of a tensor's values, whatever its dtype and layout."""
    tensor = tensor.detach()
    if tensor.is_quantized:  # its integers alone would leave out the scale
        tensor = tensor.dequantize()
    if tensor.layout != torch.strided:
        tensor = tensor.to_dense()
    tensor = tensor.cpu().resolve_conj().resolve_neg().contiguous()
    # Viewed as bytes, so that dtypes numpy lacks (bfloat16, ...) work too.
    return tensor.reshape(-1).view(torch.uint8).numpy().tobytes()


class _Describer:
    """Turns a parameter value into text that fixes what it does.

    The text is a serialisation, like a pickle: values are spelt out
    (arrays and tensors by the hash of their bytes), callables and classes
    by their code, and an object met a second time (a cycle, or shared
    state) by the number of its first appearance, which is the same in
    every process because the walk is. Nothing in it is a memory address;
    a value that cannot be described otherwise raises :class:`_Unstable`.
    """

    def __init__(self):
        self._seen = {}  # id -> number of first appearance
        self._alive = []  # keeps the objects numbered, so their ids stay theirs

    def __call__(self, value):
        if type(value) in _PLAIN:
            return repr(value)
        if isinstance(value, np.generic):
            return f"{value.dtype.str}:{value.tobytes().hex()}"
        if isinstance(value, (tuple, frozenset, types.CodeType, types.ModuleType,
                              torch.Tensor, np.ndarray)):
            # Immutable, or keyed by content: no sharing to keep track of.
            return self._describe(value)
        if id(value) in self._seen:
            return f"<ref {self._seen[id(value)]}>"
        self._seen[id(value)] = len(self._seen)
        self._alive.append(value)
        return self._describe(value)

    def _items(self, pairs):
        return ", ".join(f"{self(k)}: {self(v)}" for k, v in pairs)

    def _describe(self, value):  # noqa: C901 - one branch per kind of value
        if isinstance(value, type):
            return self._class(value)
        if isinstance(value, types.FunctionType):
            return self._function(value)
        if isinstance(value, types.MethodType):  # bound: its self's state counts
            return f"method {self(value.__func__)} of {self(value.__self__)}"
        if isinstance(value, functools.partial):
            return (f"partial({self(value.func)}, args={self(value.args)}, "
                    f"keywords={self(value.keywords)}, state={self(vars(value))})")
        if isinstance(value, types.CodeType):
            return self._code(value)
        if isinstance(value, types.ModuleType):
            return f"module {value.__name__}"
        if isinstance(value, (types.BuiltinFunctionType, types.MethodWrapperType)):
            owner = value.__self__
            if owner is None or isinstance(owner, (types.ModuleType, type)):
                return f"builtin {_qualname(value)} of {getattr(owner, '__name__', None)}"
            return f"builtin {value.__name__} of {self(owner)}"
        if isinstance(value, (staticmethod, classmethod)):
            return f"{type(value).__name__}({self(value.__func__)})"
        if isinstance(value, property):
            return f"property({self(value.fget)}, {self(value.fset)}, {self(value.fdel)})"
        if isinstance(value, torch.nn.parameter.UninitializedTensorMixin):
            # A lazy layer's: no values yet; its first forward draws them
            # from the RNG, which the fit seeds.
            return f"{type(value).__name__} {value.dtype}"
        if isinstance(value, torch.Tensor):  # repr elides the middle of large ones
            try:
                data = _tensor_bytes(value)
            except (RuntimeError, NotImplementedError, TypeError) as exc:
                # Meta and quantized tensors, and others without plain values.
                raise _Unstable(f"a {value.dtype} tensor whose values cannot be read "
                                f"({exc})") from None
            return f"tensor {value.dtype} {tuple(value.shape)} {_digest(data)}"
        if isinstance(value, np.ndarray):  # so does numpy's
            if value.dtype.hasobject:
                return f"ndarray object {value.shape} [{', '.join(map(self, value.flat))}]"
            array = np.ascontiguousarray(value)
            return f"ndarray {array.dtype.str} {array.shape} {_digest(array.tobytes())}"
        if isinstance(value, (list, tuple)):
            return f"{_qualname(type(value))}[{', '.join(map(self, value))}]"
        if isinstance(value, (dict, types.MappingProxyType)):
            # Insertion order kept: it can matter (a Sequential built from it).
            return f"{_qualname(type(value))}{{{self._items(value.items())}}}"
        if isinstance(value, (set, frozenset)):
            # A set's order follows string hashes, which differ between processes.
            return f"{type(value).__name__}{{{', '.join(sorted(map(self, value)))}}}"
        if isinstance(value, enum.Enum):
            return f"enum {_qualname(type(value))}.{value.name}={self(value.value)}"
        if isinstance(value, weakref.ref):
            return f"weakref({self(value())})"
        if isinstance(value, RemovableHandle):
            # A hook's handle (lazy layers keep two): hooks are not keyed, and
            # its id counts the hooks registered so far in this process.
            return "hook handle"
        if isinstance(value, torch.Generator):
            return f"torch.Generator({value.device}, {self(value.get_state())})"
        if isinstance(value, np.random.RandomState):
            return f"RandomState({self(value.get_state())})"
        if isinstance(value, np.random.Generator):
            return f"Generator({self(value.bit_generator.state)})"
        if isinstance(value, random.Random):
            return f"random.Random({self(value.getstate())})"
        if (inspect.isgenerator(value) or inspect.iscoroutine(value)
                or inspect.isasyncgen(value) or isinstance(value, io.IOBase)):
            raise _Unstable(f"a {type(value).__name__}, whose state cannot be read")
        if (callable(value) and isinstance(getattr(value, "__qualname__", None), str)
                and _is_library(getattr(value, "__module__", None))):
            # A library's function object of its own kind (numpy's dispatchers).
            return f"callable {_qualname(value)}"
        if isinstance(value, torch.nn.Module):
            return self._module(value)
        return self._object(value)

    def _code(self, code):
        """Bytecode, constants and names; not the file name or line numbers."""
        consts = ", ".join(map(self, code.co_consts))  # nested code objects in full
        table = getattr(code, "co_exceptiontable", b"")
        return (f"code({code.co_code.hex()}, {table.hex()}, [{consts}], {code.co_names}, "
                f"{code.co_varnames}, {code.co_freevars}, {code.co_cellvars}, "
                f"{code.co_argcount}, {code.co_posonlyargcount}, "
                f"{code.co_kwonlyargcount}, {code.co_flags})")

    def _function(self, fn):
        cells = []
        for cell in fn.__closure__ or ():
            try:
                cells.append(self(cell.cell_contents))
            except ValueError:  # a cell not yet assigned
                cells.append("<empty cell>")
        closure = f"closure=[{', '.join(cells)}]"
        if _is_library(fn.__module__):
            return f"function {_qualname(fn)} {closure}"
        # The globals it reads: a module-level constant or helper edited
        # between two fits changes what the function does, too.
        names = dict.fromkeys(_global_names(fn.__code__))
        reads = [(name, fn.__globals__[name]) for name in names if name in fn.__globals__]
        return (f"function {_qualname(fn)} {self._code(fn.__code__)} "
                f"defaults={self(fn.__defaults__)} kwdefaults={self(fn.__kwdefaults__)} "
                f"{closure} globals={{{self._items(reads)}}} attributes={self(vars(fn))}")

    def _class(self, cls):
        """A class by its code: every function and attribute of each own class of its MRO."""
        name = _qualname(cls)
        if _is_library_class(cls):
            return f"class {name}"
        parts = [f"metaclass={self(type(cls))}"]
        for klass in cls.__mro__:
            if _is_library_class(klass):
                parts.append(f"base {_qualname(klass)}")
                continue
            entries = [(k, v) for k, v in vars(klass).items() if k not in _CLASS_NOISE]
            parts.append(f"{_qualname(klass)}{{{self._items(entries)}}}")
        return f"class {name}({'; '.join(parts)})"

    def _module(self, module):
        """A torch module by its class, tensors and attributes, not its hooks."""
        state = {k: v for k, v in vars(module).items() if k not in _MODULE_BOOKKEEPING}
        state.update(parameters=module._parameters, buffers=module._buffers,
                     modules=module._modules)
        return f"{self(type(module))}({self(state)})"

    def _object(self, value):
        cls = type(value)
        state = dict(vars(value)) if hasattr(value, "__dict__") else {}
        slots = [s for klass in cls.__mro__ for s in _slot_names(klass)]
        state.update((s, getattr(value, s)) for s in slots if hasattr(value, s))
        get_params = getattr(value, "get_params", None)
        if callable(get_params):
            try:
                params = get_params(deep=False)
            except Exception:  # an object that breaks the convention: read its state
                params = None
            if isinstance(params, dict):
                if isinstance(value, Callback):
                    # skorch initializes a callback again at the start of every
                    # level, which resets what an earlier fit left in it.
                    return f"{self(cls)}(params={self(params)})"
                # An sklearn-style object keeps what it learnt (a transform
                # fitted with a mean_), and that changes what it does.
                rest = {k: v for k, v in state.items() if k not in params}
                return f"{self(cls)}(params={self(params)}, state={self(rest)})"
        if hasattr(value, "__dict__") or slots:
            return f"{self(cls)}({self(state)})"
        text = repr(value)  # a C-level value: torch.device, dtypes, datetimes, ...
        if _ADDRESS.search(text):
            raise _Unstable(f"{text}, whose only description is its memory address")
        return f"{self(cls)}:{text}"


def _slot_names(klass):
    slots = vars(klass).get("__slots__", ())
    slots = (slots,) if isinstance(slots, str) else slots
    return [s for s in slots if s not in ("__dict__", "__weakref__")]


def _global_names(code):
    """Names a code object and the code nested in it may read as globals."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _global_names(const)


def _describe(value):
    """A text for a parameter value that is the same in every process.

    Raises
    ------
    _Unstable
        If part of the value can only be described by its memory address,
        or holds state that cannot be read (a generator, an open file).
    """
    try:
        return _Describer()(value)
    except RecursionError:
        raise _Unstable("a structure nested too deeply to describe") from None


def describe_architecture(module):
    """A stable text for a network's architecture and code.

    It lists the name, shape and dtype of every parameter and buffer, and
    the hash of the code of every module class in the network that is not
    a library's own (torch, skorch, ...): the bytecode, constants and names
    of every function of the class and its own bases, and its class
    attributes. A class edited in a notebook (a new ``forward`` or new layer
    sizes under the same name), or defined twice in one file, therefore gets
    another text; moving it to other lines does not.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    text : str

    Raises
    ------
    ValueError
        If a class of the network holds a value that can only be described
        by its memory address.
    """
    try:
        return _architecture(module)
    except _Unstable as exc:
        raise ValueError(f"The network's classes cannot be described the same way in "
                         f"every process: they hold {exc}.") from None


def _architecture(module):
    parts = [f"{kind}:{name}:{tuple(t.shape)}:{t.dtype}"
             for kind, items in (("param", module.named_parameters()),
                                 ("buffer", module.named_buffers()))
             for name, t in items]
    classes = {type(sub) for sub in module.modules()}
    for cls in sorted(classes, key=_qualname):
        if not _is_library_class(cls):
            parts.append(f"class:{_qualname(cls)}:{_digest(_describe(cls).encode())}")
    return "\n".join(parts)


def run_key(params, X, y, module=None):
    """Hash of everything that determines a run's levels.

    Each parameter is described by what it does, the same way in every
    process, so that a rerun finds the levels of an earlier one and two
    settings that can train differently never share a key:

    - numbers, strings and containers by their values; arrays and tensors
      by their bytes, dtype and shape;
    - functions and lambdas by their code (bytecode, constants and names,
      nested code included), their defaults, their closure's values and the
      module globals they read; a bound method by its function and the state
      of its object; a ``functools.partial`` by its function and arguments;
    - classes (networks, callbacks, transforms, optimizers) by the code of
      their functions and their attributes, up to the library classes they
      extend; a library's classes and functions by their qualified name;
    - torch modules by their class, parameters, buffers, submodules and
      every other attribute of the instance, private ones included;
    - skorch callbacks by their class and parameters (skorch initializes
      them again at every level, which resets what a fit left in them);
      other objects with ``get_params`` by their class, parameters and the
      rest of their state, such as fitted attributes; any other object by
      its class and attributes.

    A value that can only be described by its memory address (an object of
    a C type without state to read, an iterator, an open file) gets a key
    unique to this call, with a ``UserWarning``: its levels are never
    reused, rather than reused for another setting.

    Parameters
    ----------
    params : dict
        The estimator's ``get_params()``, including ``random_state``.
    X, y : ndarray
        The data passed to ``fit``, as validated.
    module : torch.nn.Module, default=None
        The initialized network; its :func:`describe_architecture` joins the
        key, so a changed network never reuses another's levels.

    Returns
    -------
    key : str
        20 hex characters.

    Warns
    -----
    UserWarning
        Once per call, naming every parameter that cannot be described the
        same way in every process; the key is then unique to this call.

    Notes
    -----
    What the description does not follow: code reached through a module
    (``mylib.helper(X)`` is keyed by the name ``mylib``, not by
    ``helper``'s code), the hooks registered on a torch module, and the
    version of the libraries.
    """
    digest = hashlib.sha256()
    unstable = {}
    # With early_stopping the selection rule scores every epoch, so it
    # decides which weights each level keeps.
    excluded = _KEY_EXCLUDED - ({"selection"} if params.get("early_stopping") else set())
    for name in sorted(set(params) - excluded):
        try:
            digest.update(f"{name}={_describe(params[name])};".encode())
        except _Unstable as exc:
            unstable[name] = exc
    if module is not None:
        try:
            digest.update(_architecture(module).encode())
        except _Unstable as exc:
            unstable["module"] = exc
    if unstable:
        held = "; ".join(f"{name} holds {exc}" for name, exc in unstable.items())
        warnings.warn(
            f"checkpoint_dir: {held}. That cannot be described the same way in "
            f"every process, so levels will not be reused for this fit: it neither "
            f"loads earlier levels nor saves any that a later fit could find (they "
            f"go under a key of their own). To reuse levels, pass a function, a "
            f"functools.partial, or an object whose attributes are plain values, "
            f"arrays or tensors.",
            UserWarning, stacklevel=2)
        digest.update(os.urandom(16))
    for array in (X, y):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes() if array.dtype != object else repr(array.tolist()).encode())
    return digest.hexdigest()[:20]
