"""Every performance target of skimp, measured in one run.

    python benchmarks/run_all.py            # the measurement (~10 min on 2 cores)
    python benchmarks/run_all.py --quick    # ~1 min; rough numbers
    python benchmarks/run_all.py --smoke    # seconds, for the test suite; no numbers
    python benchmarks/run_all.py --device cuda --only training   # on a GPU
    python benchmarks/run_all.py --only threads                  # the thread default

Prints the machine, then each benchmark's details, then a Markdown table of
the ratios. Each ratio interleaves its two sides (A, B, A, B, ...) after a
warm-up and reports the median and the minimum over the pairs, so that other
load on the machine hits both sides alike. See docs/performance.md.
"""

import argparse
import os
import sys
import time

import bench_compact
import bench_parallel
import bench_patience
import bench_threads
import bench_training
import common
import torch

BENCHES = ("training", "patience", "compact", "parallel", "threads")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_mode_arguments(parser)
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=BENCHES)
    parser.add_argument("--device", default="cpu",
                        help='where the training benchmark runs, e.g. "cuda"')
    args = parser.parse_args(argv)
    threads = 1
    torch.set_num_threads(threads)

    mode = common.mode(args)
    flag = [] if mode == "full" else [f"--{mode}"]
    print("skimp benchmarks" + ("" if mode == "full" else f" (--{mode}: not a measurement)"))
    print(common.format_info(common.machine_info(threads, args.device)))
    print(f"  {'command':<14} {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"  {'load average':<14} {', '.join(f'{v:.2f}' for v in os.getloadavg())} (before)")
    table = []
    start = time.perf_counter()

    if "training" in args.only:
        print("\n== 1. training overhead: one IMP level, skimp / minimal torch loop ==")
        for r in bench_training.main([*flag, "--device", args.device]):
            if r["case"] == "early_stopping":
                table.append((f"1. early_stopping=True / False, {r['model']}, "
                              f"{r['train_rows']} train rows, {r['device']}",
                              f"{r['median']:.3f}x", f"{r['min']:.3f}x", "<= 1.08x"))
                continue
            table.append((f"1. training, {r['model']}, {r['rows']} rows, {r['device']}",
                          f"{r['median']:.3f}x", f"{r['min']:.3f}x", "<= 1.10x"))
    if "patience" in args.only:
        print("\n== 2. early stopping: patience vs full IMP run ==")
        r = bench_patience.main(flag)
        table.append((f"2. patience={r['patience']}: time saved, same ticket "
                      f"{r['same_ticket']}", f"{100 * r['saved']:.0f}%", "",
                      f"{r['early_levels']} of {r['full_levels']} levels"))
    if "compact" in args.only:
        print("\n== 3. compact ticket: masked dense / compact inference time ==")
        r = bench_compact.main(flag)
        for row in r["rows"]:
            table.append((f"3. compact speedup, density {r['density']:.3f}, batch {row['batch']}",
                          f"{row['median']:.2f}x", f"{row['min']:.2f}x",
                          ">= 3x" if row["batch"] >= 1000 else ""))
        table.append(("3. bytes, masked dense / compact",
                      f"{r['dense_bytes'] / r['compact_bytes']:.1f}x", "",
                      f"{r['dense_bytes']:,} / {r['compact_bytes']:,} B"))
        for conv in r["conv"]:
            for ticket in conv["tickets"]:
                sparsest = ticket["density"] <= 0.02
                name = f"Conv-2 ({conv['scope']}), density {ticket['density']:.3f}"
                for row in ticket["rows"]:
                    table.append((f"3. compact {name}, batch {row['batch']}",
                                  f"{row['median']:.2f}x", f"{row['min']:.2f}x",
                                  ">= 2x" if sparsest and row["batch"] > 1 else ""))
                table.append((f"3. bytes, {name}, masked dense / compact",
                              f"{ticket['dense_bytes'] / ticket['compact_bytes']:.1f}x", "",
                              f"{ticket['dense_bytes']:,} / {ticket['compact_bytes']:,} B"))
    if "parallel" in args.only:
        print("\n== 4. parallel grid search: n_jobs=1 / n_jobs=2 wall time ==")
        r = bench_parallel.main(flag)
        table.append(("4. GridSearchCV speedup, n_jobs=2 over 1, all pairs",
                      f"{r['median']:.2f}x", f"{r['min']:.2f}x", ">= 1.6x"))
        if "quiet" in r:
            table.append((f"4. same, the {r['quiet']['pairs']} pairs without other load",
                          f"{r['quiet']['median']:.2f}x", f"{r['quiet']['min']:.2f}x",
                          ">= 1.6x"))
        if "parallel_cores" in r:
            table.append(("4. cores the search got, n_jobs=1 / n_jobs=2 (others took)",
                          f"{r['serial_cores']:.2f} / {r['parallel_cores']:.2f}", "",
                          f"{r['serial_others']:.2f} / {r['parallel_others']:.2f}"))

    if "threads" in args.only:
        print("\n== 5. n_threads='auto' against fixed thread counts: fixed / auto ==")
        # The other benchmarks pin one thread; "auto" reads torch's setting,
        # so give it what a fresh process has.
        with common.torch_threads(len(os.sched_getaffinity(0))):
            results = bench_threads.main(flag)
        for r in results:
            for fixed in sorted(k for k in r if isinstance(k, int)):
                table.append((f"5. threads, MLP {'-'.join(map(str, r['hidden']))}: "
                              f"{fixed} / auto ({r['auto']})",
                              f"{r[fixed]['median']:.2f}x", f"{r[fixed]['min']:.2f}x",
                              ">= 0.95x (auto within 5% of the best)"))
    print(f"\n== summary ({time.perf_counter() - start:.0f} s; load average "
          f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} after) ==\n")
    print("| measurement | median | min | target / note |")
    print("| --- | --- | --- | --- |")
    for row in table:
        print("| " + " | ".join(row) + " |")
    return table


if __name__ == "__main__":
    main()
