"""Torch CPU threads for a fit: how many, and set for a while.

:func:`resolve_threads` picks the count (``n_threads="auto"`` sizes it by a
batch's multiply-adds, counted by :class:`MultiplyAddCounter`) and
:func:`torch_threads` is the one place that sets torch's threads and puts
them back. All are imported from :mod:`skimp.training`.
"""

import contextlib
import math
import os
import time

import torch

__all__ = ["AUTO_THREADS_MIN_WORK", "MultiplyAddCounter", "idle_cores", "resolve_threads",
           "torch_threads"]

#: Multiply-adds per training batch (those of one row's forward pass times
#: the batch size; for an MLP, its weights times the batch size) from which
#: ``n_threads="auto"`` lets a fit use several threads; below it, thread
#: synchronisation costs more than it saves. Measured in
#: ``benchmarks/bench_threads.py``; see docs/performance.md.
AUTO_THREADS_MIN_WORK = 2**24


@contextlib.contextmanager
def torch_threads(n_threads):
    """Run the block with ``n_threads`` torch CPU threads, then restore them.

    torch's count is the calling thread's own (OpenMP's), so blocks in other
    Python threads, such as a server's thread pool, neither see nor undo it.

    Parameters
    ----------
    n_threads : int or None
        ``None`` leaves torch's setting alone.
    """
    if n_threads is None or n_threads == torch.get_num_threads():
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class MultiplyAddCounter:
    """Count the multiply-adds of the forward passes run inside the block.

    Forward hooks on every ``Linear`` and convolution layer (``ConvNd`` and
    ``ConvTransposeNd``) of ``module`` add up what each call computes: a
    convolution's weights count once per output position, so a small
    kernel slid over a large image counts for what it costs. Other layers
    (normalisation, pooling, activations) are not counted; they cost little
    next to these.

    Parameters
    ----------
    module : torch.nn.Module

    Attributes
    ----------
    total : int
        Multiply-adds counted so far, over all rows.

    Examples
    --------
    >>> import torch
    >>> from skimp.training import MultiplyAddCounter
    >>> conv = torch.nn.Conv2d(3, 8, kernel_size=3, padding=1)
    >>> with MultiplyAddCounter(conv) as counter, torch.no_grad():
    ...     _ = conv(torch.zeros(2, 3, 16, 16))
    >>> counter.total // 2  # per row: 16 x 16 positions x 8 outputs x 27 inputs
    55296
    """

    def __init__(self, module):
        self.module = module
        self.total = 0
        self._handles = []

    def _count(self, layer, inputs, output):
        per_output = math.prod(layer.weight.shape[1:])
        if isinstance(layer, torch.nn.modules.conv._ConvTransposeNd):
            # Every input value is spread over the kernel's outputs.
            self.total += inputs[0].numel() * per_output
        else:
            self.total += output.numel() * per_output

    def __enter__(self):
        for layer in self.module.modules():
            if isinstance(layer, (torch.nn.Linear, torch.nn.modules.conv._ConvNd)):
                self._handles.append(layer.register_forward_hook(self._count))
        return self

    def __exit__(self, *exc_info):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        return False


def _cpu_times(cpus):
    """Cumulative times of ``cpus``, summed, from /proc/stat's per-CPU lines."""
    totals = [0] * 8
    with open("/proc/stat") as f:
        for line in f:
            name, _, rest = line.partition(" ")
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                # user nice system idle iowait irq softirq steal (guest is in user)
                for i, value in enumerate(rest.split()[:8]):
                    totals[i] += int(value)
    return totals


def idle_cores(interval=0.05):
    """How many CPUs sat idle over the next ``interval`` seconds.

    Read from /proc/stat (idle and iowait time) for the CPUs this process
    may run on, where there is one; elsewhere the machine's CPU count less
    its 1-minute load average; None where neither can be read.

    Parameters
    ----------
    interval : float, default=0.05
        Seconds to watch: long enough for /proc/stat's 100 ticks a second to tell a
        busy core from an idle one, short next to a fit that "auto" would thread.

    Returns
    -------
    idle : float or None
        In CPUs, e.g. about 1.0 on a 2-CPU machine with one core busy.
    """
    try:
        cpus = os.sched_getaffinity(0)
    except AttributeError:  # not on Linux
        cpus = set(range(os.cpu_count() or 1))
    n_cpus = len(cpus)
    try:
        before = _cpu_times(cpus)
        time.sleep(interval)
        after = _cpu_times(cpus)
    except (OSError, ValueError, IndexError):
        try:
            return max(0.0, n_cpus - os.getloadavg()[0])
        except (OSError, AttributeError):
            return None
    spent = [b - a for a, b in zip(before, after)]
    total = sum(spent)
    return n_cpus * (spent[3] + spent[4]) / total if total > 0 else None


def resolve_threads(n_threads, module, batch_size, *, multiply_adds=None):
    """The torch thread count a fit uses.

    Parameters
    ----------
    n_threads : int, "auto" or None
        An int is used as it is and ``None`` means torch's current setting.
        ``"auto"`` gives 1 when a batch's work, its multiply-adds, is below
        :data:`AUTO_THREADS_MIN_WORK`, and otherwise torch's current
        setting, at most the cores this process may use and at most the
        cores that are idle when the fit starts (:func:`idle_cores`, over
        50 ms, rounded to the nearest core): a thread that waits for a
        sibling the scheduler has given to another process stalls every
        parallel region, and made fits up to 50 times slower on a busy
        machine. joblib's process workers start with torch capped at
        ``cores // n_jobs`` threads, and Dask's with one, so "auto" never
        oversubscribes them.
    module : torch.nn.Module
    batch_size : int
    multiply_adds : int, default=None
        Multiply-adds of one row's forward pass, as :class:`MultiplyAddCounter`
        counts them on the two rows that ``fit`` runs through the network
        before training. A batch's work is that times ``batch_size``. Every
        parameter takes part in at least one multiply-add per row, so the
        count used is at least the module's parameter count, which also
        covers layers the counter does not hook; ``None`` uses that count
        alone. For an MLP both are its weights and biases, whose multiply-adds
        per row are its weights: the decision is the same either way.

    Returns
    -------
    n_threads : int or None
    """
    if n_threads != "auto":
        return n_threads
    per_row = max(multiply_adds or 0, sum(p.numel() for p in module.parameters()))
    if per_row * batch_size < AUTO_THREADS_MIN_WORK:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    threads = max(1, min(torch.get_num_threads(), cores))
    if threads > 1:
        idle = idle_cores()
        if idle is not None:
            threads = max(1, min(threads, int(idle + 0.5)))
    return threads
