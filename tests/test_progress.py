"""What verbose prints: where a level is, and the time left."""

import io

import pytest
from skorch.history import History

from skimp import progress
from skimp.progress import Progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    return clock


def train(bar, clock, level, epochs, seconds_per_epoch=1.0):
    net = type("Net", (), {"history": History()})()
    bar.start_level(level)
    for _ in range(epochs):
        clock.now += seconds_per_epoch
        net.history.new_epoch()
        net.history.record("train_loss", 0.5)
        bar.on_epoch_end(net)


def test_time_left_counts_the_level_in_progress(clock):
    stream = io.StringIO()
    bar = Progress(10, 0, 2, stream=stream, verbose=2)
    train(bar, clock, 0, 5)
    # 1 s per epoch; 5 epochs left in this level and 10 in each of 2 more.
    assert stream.getvalue().splitlines()[-1].endswith("level 0/2, epoch 5/10, "
                                                       "train_loss 0.5000, left 25s")


def test_later_levels_count_from_the_rewind_point(clock):
    stream = io.StringIO()
    bar = Progress(10, 4, 3, stream=stream, verbose=2, upper_bound=True)
    train(bar, clock, 0, 10, seconds_per_epoch=6)
    train(bar, clock, 1, 2, seconds_per_epoch=6)
    # Levels after the first train 6 epochs: 4 left here, 6 in each of 2 more.
    # patience or n_iter_no_change may end the run sooner: an upper bound.
    assert stream.getvalue().splitlines()[-1].endswith("epoch 2/6, train_loss 0.5000, "
                                                       "left <=1m36s")


def test_a_terminal_gets_one_line_rewritten_in_place(clock):
    stream = Terminal()
    bar = Progress(3, 0, 0, stream=stream)
    train(bar, clock, 0, 3)
    bar.level_done(dict(level=0, density=1.0, n_params=10, epoch=3, train_accuracy=0.9,
                        val_accuracy=0.8, fit_time=3.0))
    text = stream.getvalue()
    assert text.count("\r  level 0/0, epoch") == 3
    # The epoch lines share one line, ended before the table's header and row.
    assert text.count("\n") == 3
    assert text.split("\n")[1].split()[:3] == ["level", "weights", "left"]


def test_elsewhere_a_line_after_the_first_epoch_then_every_30_s(clock):
    stream = io.StringIO()
    bar = Progress(100, 0, 0, stream=stream)
    train(bar, clock, 0, 100, seconds_per_epoch=2)
    lines = stream.getvalue().splitlines()
    assert lines[0].strip().startswith("level 0/0, epoch 1/100")
    # Epoch 1, then one line per 30 s of the 200 s.
    assert len(lines) == 1 + 6
    assert "\r" not in stream.getvalue()


@pytest.mark.parametrize("seconds, text", [(5, "5s"), (95, "1m35s"), (7300, "2h01m")])
def test_durations_read_as_a_person_reads_them(clock, seconds, text):
    stream = io.StringIO()
    bar = Progress(2, 0, 0, stream=stream, verbose=2)
    train(bar, clock, 0, 1, seconds_per_epoch=seconds)
    assert stream.getvalue().rstrip().endswith(f"left {text}")
