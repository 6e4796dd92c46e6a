"""Shared helpers of the benchmarks: machine description and interleaved timing.

Other work may share the machine, so every ratio is measured by alternating
its two sides (A, B, A, B, ...) after a warm-up, and the median and the
minimum of the per-pair ratios are reported. A burst of load then hits both
sides of one pair instead of skewing one side of the whole measurement.
"""

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

# The estimator's own way to set torch's threads for a while and restore them.
from skimp.training import torch_threads  # noqa: E402, F401


def cpu_model():
    """CPU model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(threads, device="cpu"):
    """One dict describing where and with what the benchmark ran."""
    import joblib
    import sklearn
    import skorch
    import torch

    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skorch": skorch.__version__,
        "sklearn": sklearn.__version__,
        "joblib": joblib.__version__,
        "torch threads": threads,
        "device": device if not str(device).startswith("cuda")
        or not torch.cuda.is_available() else f"{device} ({torch.cuda.get_device_name(device)})",
    }


def format_info(info):
    return "\n".join(f"  {k:<14} {v}" for k, v in info.items())


def interleaved(side_a, side_b, *, repeats, warmup=1):
    """Time two callables alternately.

    Parameters
    ----------
    side_a, side_b : callable
        Each call is one measurement; its return value is ignored.
    repeats : int
        Number of (A, B) pairs timed after the warm-up.
    warmup : int, default=1
        Untimed (A, B) pairs run first, so allocator and caches settle.

    Returns
    -------
    times_a, times_b : list of float
        Seconds per call, pair by pair.
    """
    for _ in range(warmup):
        side_a()
        side_b()
    times_a, times_b = [], []
    for i in range(repeats):
        # Alternate who goes first, so neither side always runs on a
        # freshly warmed (or freshly cooled) cache.
        pair = [(side_a, times_a), (side_b, times_b)]
        for fn, out in (pair if i % 2 == 0 else pair[::-1]):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return times_a, times_b


def ratio_summary(times_a, times_b):
    """Median and min of the per-pair ratios A / B, plus the median times."""
    ratios = np.asarray(times_a) / np.asarray(times_b)
    return {
        "median": float(statistics.median(ratios)),
        "min": float(ratios.min()),
        "a_s": float(statistics.median(times_a)),
        "b_s": float(statistics.median(times_b)),
        "pairs": len(ratios),
    }


def add_mode_arguments(parser):
    """``--quick`` and ``--smoke``: smaller runs that are not measurements."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true",
                       help="small sizes, about a minute in all; numbers are rough")
    group.add_argument("--smoke", action="store_true",
                       help="tiny sizes, for the test suite; numbers are meaningless")


def mode(args):
    return "smoke" if args.smoke else "quick" if args.quick else "full"


def _process_tree_cpu_seconds():
    """CPU seconds of this process and its live descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended meanwhile
        # The command name may hold spaces and parentheses; fields follow the last ')'.
        fields = text[text.rindex(")") + 2:].split()
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    tree, total = {os.getpid()}, 0.0
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in stats.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    for pid in tree:
        total += stats.get(pid, (0, 0.0))[1]
    return total


def _machine_busy_ticks():
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


class CpuShare:
    """Cores this process tree used, and cores the rest of the machine used.

    Wrap one timed call in it. A parallel speedup can only be as large as the
    cores the benchmark actually got, so both are reported next to it.
    Linux only; elsewhere the numbers are None.
    """

    def __enter__(self):
        self.available = Path("/proc/stat").exists()
        self.start = time.perf_counter()
        if self.available:
            self.ours = _process_tree_cpu_seconds()
            self.busy, self.total = _machine_busy_ticks()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.start
        self.ours_cores = self.others_cores = None
        if self.available and wall > 0:
            self.ours_cores = (_process_tree_cpu_seconds() - self.ours) / wall
            busy, total = _machine_busy_ticks()
            machine = (busy - self.busy) / max(total - self.total, 1) * os.cpu_count()
            self.others_cores = max(machine - self.ours_cores, 0.0)
        return False


# Background loads for the contention cases of bench_compact and bench_threads:
# the programs other processes run on a machine that is not idle. Each is a
# separate Python process, killed when the block ends.
LOADS = {
    # One core spinning in pure Python, as a busy notebook kernel or a browser tab.
    "busy core": "while True: pass",
    # Another torch process at 2 threads with large parallel regions.
    "torch matmul, 2 threads": (
        "import torch; torch.set_num_threads(2); a = torch.rand(512, 512)\n"
        "while True: a @ a"),
    # Another torch process at 2 threads with many small parallel regions,
    # whose OpenMP threads spin between them, as a test suite or a small fit does.
    "torch small ops, 2 threads": (
        "import torch; torch.set_num_threads(2); a = torch.rand(64, 1024)\n"
        "while True: (a + 1).relu_().sum(1)"),
    # A real one: a skimp fit at torch's default threads.
    "skimp fit, 2 threads": (
        "import numpy as np\n"
        "from skimp import PrunedNetClassifier\n"
        "rng = np.random.RandomState(0); X = rng.rand(20000, 784).astype('float32')\n"
        "y = rng.randint(0, 10, 20000)\n"
        "while True: PrunedNetClassifier(hidden_layer_sizes=(300, 100), max_epochs=50, "
        "max_levels=5, n_threads=2).fit(X, y)"),
}


class background_load:
    """Run the named loads of :data:`LOADS` in other processes for a while.

    Parameters
    ----------
    names : sequence of str
        Keys of :data:`LOADS`; a name may repeat. Empty: an idle machine.
    settle : float, default=1.0
        Seconds to wait after starting them, so that they are running.
    """

    def __init__(self, names, settle=1.0):
        self.names = list(names)
        self.settle = settle
        self.processes = []

    def __enter__(self):
        import subprocess

        env = dict(os.environ, PYTHONPATH=str(ROOT))
        for name in self.names:
            self.processes.append(subprocess.Popen(
                [sys.executable, "-c", LOADS[name]], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        if self.processes:
            time.sleep(self.settle)
        return self

    def __exit__(self, *exc_info):
        for process in self.processes:
            process.kill()
        for process in self.processes:
            process.wait()
        return False
