"""What ``verbose`` prints while IMP runs.

:class:`Progress` is a skorch callback that :class:`skimp.imp.ImpRunner`
adds to every level when ``verbose > 0``. It prints:

- one row per finished level, under a header printed once;
- while a level trains, where it is (level, epoch within the level) and the
  time left: on a terminal one line rewritten in place after every epoch,
  elsewhere (logs, notebooks) a line after the first epoch, then at most
  every ``every`` seconds; with ``verbose >= 2``, a line per epoch with its
  losses;
- at the end, the chosen level, and what it means when that is level 0.

The time left is the wall time per epoch so far, level overheads included,
times the epochs still to train, the level in progress included. With
``patience`` or ``n_iter_no_change`` the run may end sooner, and the
estimate is marked ``<=``.
"""

import sys
import time

from skorch.callbacks import Callback

__all__ = ["Progress"]


class Progress(Callback):
    """Prints IMP's progress.

    Parameters
    ----------
    max_epochs, rewind_epoch, max_levels
        The run's schedule: level 0 trains ``max_epochs`` epochs, later
        levels ``max_epochs - rewind_epoch``.
    upper_bound : bool, default=False
        Whether the run may end before its schedule (``patience`` or
        ``n_iter_no_change``): estimates are then upper bounds.
    verbose : int, default=1
        2 or more prints a line per epoch.
    every : float, default=30.0
        Seconds between in-level lines when the stream is not a terminal.
    stream : file-like, default=None
        Where to print; ``None`` is ``sys.stdout`` at the time of printing.
    """

    def __init__(self, max_epochs, rewind_epoch, max_levels, *, upper_bound=False, verbose=1,
                 every=30.0, stream=None):
        self.max_epochs = max_epochs
        self.rewind_epoch = rewind_epoch
        self.max_levels = max_levels
        self.upper_bound = upper_bound
        self.verbose = verbose
        self.every = every
        self.stream = stream
        self.level = 0
        self.epochs_done = 0
        self.start = None
        self._header_printed = False
        self._last_line = None
        self._in_place = False

    # -- the schedule -----------------------------------------------------

    def _level_epochs(self, level):
        return self.max_epochs - (self.rewind_epoch if level else 0)

    def _epochs_left(self, level, epoch_in_level):
        later = (self.max_levels - level) * self._level_epochs(1)
        return self._level_epochs(level) - epoch_in_level + later

    def _left(self, level, epoch_in_level):
        """Estimated seconds left, as text."""
        if not self.epochs_done:
            return "?"
        per_epoch = (time.perf_counter() - self.start) / self.epochs_done
        seconds = per_epoch * self._epochs_left(level, epoch_in_level)
        return ("<=" if self.upper_bound else "") + _duration(seconds)

    # -- printing ---------------------------------------------------------

    def _print(self, text, *, in_place=False):
        stream = self.stream or sys.stdout
        if self._in_place:  # finish the line being rewritten
            stream.write("\n" if not in_place else "\r")
        stream.write(text if in_place else text + "\n")
        stream.flush()
        self._in_place = in_place

    def start_level(self, level):
        """Note that ``level`` begins; the first call starts the clock."""
        if self.start is None:
            self.start = self._last_line = time.perf_counter()
        self.level = level

    def on_epoch_end(self, net, **kwargs):
        epoch_in_level = len(net.history)
        self.epochs_done += 1
        where = (f"level {self.level}/{self.max_levels}, epoch {epoch_in_level}/"
                 f"{self._level_epochs(self.level)}")
        left = self._left(self.level, epoch_in_level)
        if self.verbose >= 2:
            row = net.history[-1]
            scores = "".join(f", {key} {row[key]:.4f}" for key in
                             ("train_loss", "valid_loss", "valid_acc") if key in row)
            self._print(f"  {where}{scores}, left {left}")
            return
        stream = self.stream or sys.stdout
        now = time.perf_counter()
        if getattr(stream, "isatty", lambda: False)():
            self._print(f"\r  {where}, left {left}   ", in_place=True)
        elif self.epochs_done == 1 or now - self._last_line >= self.every:
            self._print(f"  {where}, left {left}")
            self._last_line = now

    def level_done(self, row):
        """Print the row of a finished level of the IMP path."""
        if not self._header_printed:
            self._print(f"{'level':>5} {'weights left':>13} {'n_params':>9} {'epoch':>5} "
                        f"{'train acc':>9} {'val acc':>8} {'time (s)':>8} {'left':>8}")
            self._header_printed = True
        level = row["level"]
        left = self._left(level, self._level_epochs(level)) if level < self.max_levels else "0s"
        self._print(f"{level:>5} {100 * row['density']:>12.2f}% {row['n_params']:>9} "
                    f"{row['epoch']:>5} {row['train_accuracy']:>9.4f} "
                    f"{row['val_accuracy']:>8.4f} {row['fit_time']:>8.2f} {left:>8}")
        self._last_line = time.perf_counter()

    def summary(self, path, best_level, early_stopping, last_level=None):
        """Say which level was chosen, and what level 0 or the last level means."""
        n = path["n_params"]
        epoch = int(path["epoch"][best_level])
        text = (f"chosen: level {best_level}, {int(n[best_level]):,} of {int(n[0]):,} "
                f"prunable weights, epoch {epoch}, validation accuracy "
                f"{path['val_accuracy'][best_level]:.4f}")
        if best_level == 0:
            dense = (f"the dense network stopped early at epoch {epoch}" if early_stopping
                     else "the dense network")
            text += (f". That is {dense}: no pruned level did better on the validation "
                     f"split, so pruning did not help on this data. Keep this model, or "
                     f"see 'Early-stopped tickets' in the user guide")
        elif best_level == last_level:
            text += (f". That is the last level, max_levels={last_level}: sparser tickets "
                     f"might do better. Raise max_levels (with checkpoint_dir, a rerun "
                     f"trains only the new levels)")
        self._print(text + ".")


def _duration(seconds):
    """``95`` -> ``"1m35s"``: the time left, for a person."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
