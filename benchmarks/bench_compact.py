"""Target 3: batch inference of a compact ticket against the masked dense one.

A ticket of an MNIST-scale MLP (784-300-100-10) at <= 5% density is made by
IMP with ``PrunedNetClassifier`` (a short schedule: the benchmark is about
the ticket's structure, not its accuracy), then ``compact_module()`` is timed
against the masked dense module (``level_module(best_level_)``) on the same
rows, interleaved. Also reported: bytes of each, and max |logit difference|.

Run ``python benchmarks/bench_compact.py [--quick | --smoke]``.
"""

import argparse
import io
import pickle
import time
import warnings

import common
import numpy as np
import torch

from skimp import PrunedNetClassifier
from skimp.compact import CompactLinear, module_nbytes


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
                              max_levels=levels, random_state=0,
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

    Returns a list of dicts with milliseconds per call of each.
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

            def time_it(fn):
                fn()
                start = time.perf_counter()
                for _ in range(calls):
                    fn()
                return (time.perf_counter() - start) / calls * 1e3

            results.append({
                "shape": (out_features, in_features), "density": density,
                "csr_ms": time_it(lambda csr=csr, h=h: csr(h)),
                "dense_ms": time_it(lambda dense=dense, h=h: dense(h)),
                "torch_csr_ms": time_it(lambda W_csr=W_csr, h=h: torch.sparse.mm(W_csr, h)),
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    mode = common.mode(args)
    result = run(mode, threads=args.threads)
    print(describe(result), flush=True)
    with common.torch_threads(args.threads):
        if mode == "full":
            result["sweep"] = layer_sweep()
        else:
            result["sweep"] = layer_sweep(shapes=((100, 300),), densities=(0.05, 0.5), calls=3)
    print(describe_sweep(result["sweep"]), flush=True)
    return result


if __name__ == "__main__":
    main()
