"""Target 3: batch inference of a compact ticket against the masked dense one.

A ticket of an MNIST-scale MLP (784-300-100-10) at <= 5% density is made by
IMP with ``PrunedNetClassifier`` (a short schedule: the benchmark is about
the ticket's structure, not its accuracy), then ``compact_module()`` is timed
against the masked dense module (``level_module(best_level_)``) on the same
rows, interleaved. Also reported: bytes of each, and max |logit difference|.

The convolutional case does the same for a Conv-2 (``skimp.modules.ConvNet``
with one pair of 64-channel convolutions, fully connected 256-256-10) on
28x28 images: IMP with ``pruning_fraction=0.5`` for 6 levels, and the
tickets of level 3 (density 0.125) and level 6 (0.0156) are compacted with
``skimp.compact.compact`` and timed against their masked dense modules. It
reports, per convolution, the density and how many channels survived:
global pruning takes most weights from the large fully connected layers, so
the convolutions, which do most of the arithmetic, stay far denser than the
network. A sweep times one convolution sparse (``CompactConv2d``, CSR per
tap) against dense ``conv2d`` to back ``CONV_SPARSE_THRESHOLD``.

Run ``python benchmarks/bench_compact.py [--quick | --smoke]``.
"""

import argparse
import io
import pickle
import time
import warnings
from functools import partial

import common
import numpy as np
import torch

from skimp import PrunedNetClassifier
from skimp.compact import CompactConv2d, CompactLinear, compact, module_nbytes
from skimp.modules import ConvNet


def fashion_mnist(n_train, n_test, train_subset="train"):
    try:
        from skimp.datasets import load_fashion_mnist
        X, y = load_fashion_mnist(subset=train_subset)
        X_test, _ = load_fashion_mnist(subset="test")
        return X[:n_train], y[:n_train], X_test[:n_test], "Fashion-MNIST"
    except (FileNotFoundError, OSError):
        rng = np.random.default_rng(0)
        X = rng.random((n_train + n_test, 784), dtype=np.float32)
        y = rng.integers(0, 10, n_train)
        return X[:n_train], y, X[n_train:], "random (Fashion-MNIST not found)"


# Per mode: IMP training rows, their Fashion-MNIST subset (the small test
# file loads in milliseconds), epochs per level, batch sizes timed, pairs,
# and the scale of calls per measurement.
SIZES = {
    "full": dict(n_train=10_000, subset="train", epochs=2,
                 batch_sizes=(10_000, 256, 1), repeats=11, calls=5),
    "quick": dict(n_train=3_000, subset="train", epochs=1,
                  batch_sizes=(10_000, 256, 1), repeats=3, calls=1),
    "smoke": dict(n_train=1_000, subset="test", epochs=1,
                  batch_sizes=(256,), repeats=1, calls=1),
}


def make_ticket(X, y, *, levels, epochs):
    """IMP down to 0.8 ** levels density; the last level is the ticket."""
    clf = PrunedNetClassifier(hidden_layer_sizes=(300, 100), max_epochs=epochs,
                              max_levels=levels, random_state=0, early_stopping=False,
                              selection=lambda path: int(path["level"][-1]))
    return clf.fit(X, y)


def pickled_size(obj):
    buffer = io.BytesIO()
    pickle.dump(obj, buffer)
    return buffer.tell()


def run(mode="full", *, threads=1):
    size = SIZES[mode]
    n_train = size["n_train"]
    X, y, X_test, source = fashion_mnist(n_train, 10_000, size["subset"])
    clf = make_ticket(X, y, levels=14, epochs=size["epochs"])
    dense = clf.level_module(clf.best_level_).cpu()
    compact = clf.compact_module()
    X_test = torch.as_tensor(X_test, dtype=torch.float32)
    rows = []
    with common.torch_threads(threads), torch.inference_mode():
        error = float((dense(X_test) - compact(X_test)).abs().max())
        for batch in size["batch_sizes"]:
            Xb = X_test[:batch]
            # Enough calls per measurement to last ~0.1 s or more.
            calls = max(1, 2_000 // batch) * size["calls"]

            def time_dense(calls=calls, Xb=Xb):
                for _ in range(calls):
                    dense(Xb)

            def time_compact(calls=calls, Xb=Xb):
                for _ in range(calls):
                    compact(Xb)

            times = common.interleaved(time_dense, time_compact,
                                       repeats=size["repeats"])
            summary = common.ratio_summary(*times)
            summary.update(batch=batch, dense_ms=summary["a_s"] / calls * 1e3,
                           compact_ms=summary["b_s"] / calls * 1e3)
            rows.append(summary)
    return {
        "data": source,
        "train_rows": n_train,
        "density": float(clf.imp_path_["density"][clf.best_level_]),
        "widths": [layer.out_features for layer in compact.layers],
        "layouts": ["csr" if layer.sparse else "dense" for layer in compact.layers],
        "layer_density": [layer.nnz / (layer.in_features * layer.out_features)
                          if layer.sparse else float((layer.weight != 0).float().mean())
                          for layer in compact.layers],
        "dense_bytes": module_nbytes(dense),
        "compact_bytes": compact.nbytes,
        "dense_pickle": pickled_size(dense),
        "compact_pickle": pickled_size(compact),
        "max_abs_logit_diff": error,
        "test_rows": len(X_test),
        "threads": threads,
        "rows": rows,
    }


def layer_sweep(shapes=((300, 784), (100, 300), (10, 100)),
                densities=(0.02, 0.05, 0.1, 0.2, 0.3, 0.5), rows=256, calls=50):
    """Time one layer on a chunk of ``rows`` rows: CSR via embedding_bag, dense,
    and torch's sparse CSR matmul, to choose ``sparse_threshold``.

    Returns a list of dicts with the median milliseconds per call of each,
    every sparse kernel timed alternately with dense.
    """
    generator = torch.Generator().manual_seed(0)
    results = []
    for out_features, in_features in shapes:
        h = torch.randn(in_features, rows, generator=generator)
        for density in densities:
            keep = torch.rand(out_features, in_features, generator=generator) < density
            W = torch.randn(out_features, in_features, generator=generator) * keep
            bias = torch.zeros(out_features)
            csr, dense = CompactLinear(W, bias, True), CompactLinear(W, bias, False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "sparse CSR support is in beta"
                W_csr = W.to_sparse_csr()

            # Each sparse kernel against dense, alternated (common.interleaved).
            csr_vs_dense = common.ratio_summary(*common.interleaved(
                partial(csr, h), partial(dense, h), repeats=calls))
            torch_vs_dense = common.ratio_summary(*common.interleaved(
                partial(torch.sparse.mm, W_csr, h), partial(dense, h), repeats=calls))
            results.append({
                "shape": (out_features, in_features), "density": density,
                "csr_ms": csr_vs_dense["a_s"] * 1e3,
                "dense_ms": csr_vs_dense["b_s"] * 1e3,
                "torch_csr_ms": torch_vs_dense["a_s"] * 1e3,
            })
    return results


def describe_sweep(sweep):
    lines = ["one layer on 256 rows, ms per call: embedding_bag CSR / dense / "
             "torch.sparse.mm CSR"]
    for shape in dict.fromkeys(r["shape"] for r in sweep):
        cells = [f"{r['density']:.2f}: {r['csr_ms']:.3f} / {r['dense_ms']:.3f} / "
                 f"{r['torch_csr_ms']:.3f}" for r in sweep if r["shape"] == shape]
        lines.append(f"  {shape[0]}x{shape[1]}  " + "  ".join(cells))
    return "\n".join(lines)


def describe(r):
    lines = [
        f"ticket: MLP 784-300-100-10 at density {r['density']:.4f} (IMP on "
        f"{r['train_rows']} {r['data']} rows); compact widths {r['widths']}, "
        f"layouts {r['layouts']}, layer densities "
        f"{[round(d, 4) for d in r['layer_density']]}",
        f"bytes: masked dense {r['dense_bytes']:,}, compact {r['compact_bytes']:,} "
        f"({r['dense_bytes'] / r['compact_bytes']:.1f}x smaller); pickled "
        f"{r['dense_pickle']:,} vs {r['compact_pickle']:,}",
        f"max |logit difference| on {r['test_rows']:,} test rows: {r['max_abs_logit_diff']:.2e}",
    ]
    for row in r["rows"]:
        lines.append(
            f"batch {row['batch']:>6}, {r['threads']} thread(s): masked dense "
            f"{row['dense_ms']:.3f} ms, compact {row['compact_ms']:.3f} ms; speedup "
            f"median {row['median']:.2f}x, min {row['min']:.2f}x ({row['pairs']} pairs)")
    return "\n".join(lines)


# Per mode: IMP training rows, Conv-2 width, epochs per level, batch sizes
# timed, pairs, and the scale of calls per measurement.
CONV_SIZES = {
    "full": dict(n_train=2_000, width=1.0, epochs=1, batch_sizes=(1_000, 64, 1),
                 repeats=7, calls=3),
    "quick": dict(n_train=400, width=1.0, epochs=1, batch_sizes=(256, 1), repeats=3,
                  calls=1),
    "smoke": dict(n_train=100, width=0.125, epochs=1, batch_sizes=(16,), repeats=1,
                  calls=1),
}
CONV_LEVELS = (3, 6)  # densities 0.5 ** 3 and 0.5 ** 6


def conv_structure(masked, compacted):
    """Per convolution and hidden Linear: density in the ticket, units kept."""
    layers = [m for m in masked.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    kept = [m.out_channels for m in compacted.features if isinstance(m, CompactConv2d)]
    kept += [m.out_features for m in compacted.head[:-1]]
    return [{"layer": f"{type(m).__name__} {m.weight.shape[1]}->{m.weight.shape[0]}",
             "density": float((m.weight != 0).float().mean()),
             "units": m.weight.shape[0],
             "kept": kept[i] if i < len(kept) else 0}
            for i, m in enumerate(layers[:-1])]


def time_pair(dense, compacted, X, batch, size):
    Xb = X[:batch]
    # Enough calls per measurement to last ~0.1 s or more.
    calls = max(1, 200 // batch) * size["calls"]

    def time_dense():
        for _ in range(calls):
            dense(Xb)

    def time_compact():
        for _ in range(calls):
            compacted(Xb)

    summary = common.ratio_summary(*common.interleaved(time_dense, time_compact,
                                                       repeats=size["repeats"]))
    summary.update(batch=batch, dense_ms=summary["a_s"] / calls * 1e3,
                   compact_ms=summary["b_s"] / calls * 1e3)
    return summary


def run_conv(mode="full", *, threads=1, scope="global"):
    """IMP on Conv-2, then each ticket of ``CONV_LEVELS`` compacted and timed.

    ``scope="global"`` lets the fully connected layers take most of the
    pruning, so the convolutions, which do most of the arithmetic, stay
    dense; ``"layerwise"`` prunes every layer to the same density, which
    kills whole channels.
    """
    size = CONV_SIZES[mode]
    X, y, X_test, source = fashion_mnist(size["n_train"], max(size["batch_sizes"]),
                                         SIZES[mode]["subset"])
    clf = PrunedNetClassifier(
        module=ConvNet, module__n_classes=10, module__input_shape=(1, 28, 28),
        module__n_conv_pairs=1, module__width=size["width"], max_epochs=size["epochs"],
        max_levels=max(CONV_LEVELS), pruning_fraction=0.5, pruning_scope=scope,
        random_state=0, early_stopping=False,
        selection=lambda path: int(path["level"][-1])).fit(X, y)
    X_test = torch.as_tensor(X_test, dtype=torch.float32)
    tickets = []
    for level in CONV_LEVELS:
        dense = clf.level_module(level).cpu()
        compacted = compact(dense)
        with common.torch_threads(threads), torch.inference_mode():
            error = float((dense(X_test) - compacted(X_test)).abs().max())
            rows = [time_pair(dense, compacted, X_test, batch, size)
                    for batch in size["batch_sizes"]]
        convs = [m for m in compacted.features if isinstance(m, CompactConv2d)]
        tickets.append({
            "level": level,
            "density": float(clf.imp_path_["density"][level]),
            "structure": conv_structure(dense, compacted),
            "conv_layouts": ["csr per tap" if m.sparse else "dense" for m in convs],
            "dense_bytes": module_nbytes(dense),
            "compact_bytes": compacted.nbytes,
            "max_abs_logit_diff": error,
            "rows": rows,
        })
    return {"data": source, "train_rows": size["n_train"], "width": size["width"],
            "test_rows": len(X_test), "threads": threads, "tickets": tickets, "scope": scope}


def conv_layer_sweep(densities=(0.02, 0.05, 0.1, 0.2, 0.3), images=64, calls=3):
    """One 3x3 convolution, 64 -> 64 channels on 28x28 images: sparse
    ``CompactConv2d`` in chunks of 4 images (as ``CompactConvNet`` runs it)
    against dense ``conv2d`` on all images at once. Milliseconds per call."""
    generator = torch.Generator().manual_seed(0)
    h = torch.randn(images, 64, 28, 28, generator=generator)
    results = []
    for density in densities:
        keep = torch.rand(64, 64, 3, 3, generator=generator) < density
        W = torch.randn(64, 64, 3, 3, generator=generator) * keep
        layers = {sparse: CompactConv2d(W, torch.zeros(64), stride=(1, 1), padding=(1, 1),
                                        dilation=(1, 1), sparse=sparse, input_size=(28, 28))
                  for sparse in (True, False)}

        def sparse_call(layer=layers[True]):
            return [layer(chunk) for chunk in h.split(4)]

        timed = common.ratio_summary(*common.interleaved(
            sparse_call, partial(layers[False], h), repeats=calls))
        results.append({"density": density, "images": images,
                        "sparse_ms": timed["a_s"] * 1e3, "dense_ms": timed["b_s"] * 1e3})
    return results


def describe_conv_sweep(sweep):
    cells = [f"{r['density']:.2f}: {r['sparse_ms']:.1f} / {r['dense_ms']:.1f}" for r in sweep]
    return (f"one 3x3 conv 64->64 on {sweep[0]['images']} images of 28x28, ms per call: "
            f"CSR per tap (chunks of 4 images) / dense conv2d\n  " + "  ".join(cells))


def describe_conv(r):
    lines = [f"Conv-2 (width {r['width']}) tickets by IMP ({r['scope']} pruning) on "
             f"{r['train_rows']} {r['data']} rows, timed on {r['test_rows']:,} rows, "
             f"{r['threads']} thread(s):"]
    for t in r["tickets"]:
        layers = ", ".join(
            f"{s['layer']} density {s['density']:.4f} keeps {s['kept']}/{s['units']}"
            for s in t["structure"])
        lines += [
            f"level {t['level']}, density {t['density']:.4f}: {layers}; convolutions "
            f"{t['conv_layouts']}",
            f"  bytes: masked dense {t['dense_bytes']:,}, compact {t['compact_bytes']:,} "
            f"({t['dense_bytes'] / t['compact_bytes']:.1f}x smaller); max |logit "
            f"difference| {t['max_abs_logit_diff']:.2e}",
        ]
        for row in t["rows"]:
            lines.append(
                f"  batch {row['batch']:>5}: masked dense {row['dense_ms']:.3f} ms, compact "
                f"{row['compact_ms']:.3f} ms; speedup median {row['median']:.2f}x, min "
                f"{row['min']:.2f}x ({row['pairs']} pairs)")
    return "\n".join(lines)


# The contention cases: the loads of common.LOADS, alone and together.
CONTENTION = {
    "idle": (),
    "a busy core": ("busy core",),
    "another torch process (matmul)": ("torch matmul, 2 threads",),
    "another torch process (small ops)": ("torch small ops, 2 threads",),
    "a skimp fit": ("skimp fit, 2 threads",),
    "a busy core and small ops": ("busy core", "torch small ops, 2 threads"),
    "two skimp fits": ("skimp fit, 2 threads", "skimp fit, 2 threads"),
}


def random_ticket(sizes=(784, 1024, 512, 10), density=0.04, seed=0):
    """An MLP whose hidden weights keep ``density`` of their entries, at random."""
    from skimp.modules import MLP

    torch.manual_seed(seed)
    module = MLP(sizes[0], sizes[-1], sizes[1:-1]).eval()
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("weight") and param.shape[0] != sizes[-1]:
                param.mul_((torch.rand_like(param) < density).float())
    return module


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def contention(mode="full", cases=None):
    """Dense against compact under other processes' load (an MLP 784-1024-512-10
    at ~4% density, 10,000 rows, best of 5). At torch's default threads: the
    dense masked net, the compact ticket as ``compact`` returns it (one
    thread, its ``n_threads``), and the compact ticket with
    ``n_threads=None`` (torch's threads, as before); at one thread: the dense
    net, and the compact ticket with ``n_threads=None``, its own one-thread
    time."""
    rows, repeats = {"full": (10_000, 5), "quick": (10_000, 3), "smoke": (500, 1)}[mode]
    dense = random_ticket()
    compacted = compact(dense)  # runs at one thread: its n_threads
    # As before n_threads existed: torch's threads, here the default count.
    unpinned = compact(dense)
    unpinned.n_threads = None
    X = torch.rand(rows, 784)
    default_threads = torch.get_num_threads()
    results = []
    for case in cases or CONTENTION:
        with common.background_load(CONTENTION[case] if mode != "smoke" else ()), \
                torch.inference_mode():
            timed = {}
            for threads in (default_threads, 1):
                with common.torch_threads(threads):
                    dense(X), compacted(X), unpinned(X)  # warm-up
                    timed[threads] = (best_of(lambda: dense(X), repeats),
                                      best_of(lambda: compacted(X), repeats),
                                      best_of(lambda: unpinned(X), repeats))
        (dense_t, compact_t, unpinned_t), (dense_1, _, unpinned_1) = (
            timed[default_threads], timed[1])
        results.append({"case": case, "threads": default_threads,
                        "dense_ms": dense_t * 1e3, "compact_ms": compact_t * 1e3,
                        "dense_1_ms": dense_1 * 1e3, "compact_1_ms": unpinned_1 * 1e3,
                        "unpinned_ms": unpinned_t * 1e3,
                        "speedup": dense_t / compact_t,
                        "compact_vs_one_thread": compact_t / unpinned_1,
                        "unpinned_speedup": dense_t / unpinned_t})
    return results


def describe_contention(results):
    lines = ["", "compact under contention (MLP 784-1024-512-10, ~4% density, best of the "
             "repeats): target speedup >= 3x at the default threads, and compact at most 2x "
             "its own one-thread time",
             "| other load | dense (ms) | compact (ms) | speedup | compact / its 1-thread "
             "time | compact, n_threads=None (ms) | its speedup | dense, 1 thread (ms) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['case']} | {r['dense_ms']:.0f} | {r['compact_ms']:.1f} | "
                     f"{r['speedup']:.1f}x | {r['compact_vs_one_thread']:.2f} | "
                     f"{r['unpinned_ms']:.1f} | {r['unpinned_speedup']:.1f}x | "
                     f"{r['dense_1_ms']:.0f} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--contention", action="store_true",
                        help="only the contention cases: other processes load the machine")
    args = parser.parse_args(argv)
    mode = common.mode(args)
    if args.contention:
        result = {"contention": contention(mode)}
        print(describe_contention(result["contention"]), flush=True)
        return result
    result = run(mode, threads=args.threads)
    print(describe(result), flush=True)
    with common.torch_threads(args.threads):
        if mode == "full":
            result["sweep"] = layer_sweep()
        else:
            result["sweep"] = layer_sweep(shapes=((100, 300),), densities=(0.05, 0.5), calls=3)
    print(describe_sweep(result["sweep"]), flush=True)
    result["conv"] = []
    for scope in ("global", "layerwise"):
        result["conv"].append(run_conv(mode, threads=args.threads, scope=scope))
        print(describe_conv(result["conv"][-1]), flush=True)
    with common.torch_threads(args.threads):
        if mode == "full":
            result["conv_sweep"] = conv_layer_sweep()
        elif mode == "quick":
            result["conv_sweep"] = conv_layer_sweep(densities=(0.02, 0.1, 0.3), images=16)
        else:
            result["conv_sweep"] = conv_layer_sweep(densities=(0.1,), images=4, calls=1)
    print(describe_conv_sweep(result["conv_sweep"]), flush=True)
    return result


if __name__ == "__main__":
    main()
