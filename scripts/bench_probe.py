"""The linear probe's solver, old (scikit-learn lbfgs per C) against new (`neuronbench.probes`).

Input: NEMO-sized embeddings (500-d; by default 1,900 probe-train neurons, 5 classes, one
class half of the neurons, the others equal) built as random projections of a class-
structured 20-d latent through ``tanh`` plus noise; ``--rank`` makes the embedding rank-
deficient, ``--n`` sets the training size (the label-efficiency curve trains on fewer).
Both solvers fit the 4 Cs of the default grid on the same standardised matrix, one BLAS
thread, paired and alternating (``--repeats`` pairs, order swapped each pair): the machine
is shared, so the ratio of each pair is the number to read. Also prints the largest
difference of coefficients (relative to their largest magnitude) and of predicted
probabilities between the two. Usage:
    python scripts/bench_probe.py [--n 1900] [--dim 500] [--classes 5] [--rank R] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.special import softmax, expit
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits

from neuronbench.probes import LINEAR_TOL, _logistic_path

CS = (0.01, 0.1, 1.0, 10.0)


def make_problem(n: int, d: int, k: int, rank: int | None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(standardised X (n, d), y) as described in the module docstring."""
    rng = np.random.default_rng(seed)
    r = rank or d
    y = rng.choice(k, size=n, p=np.r_[0.5, np.full(k - 1, 0.5 / (k - 1))])
    latent = rng.normal(size=(k, 20))[y] * 0.6 + rng.normal(size=(n, 20))
    X = np.tanh(latent @ rng.normal(size=(20, r)) / 4) + 0.3 * rng.normal(size=(n, r))
    if r < d:
        X = X @ rng.normal(size=(r, d))
    return StandardScaler().fit_transform(X), y


def old(X: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    fits = []
    for C in CS:
        m = LogisticRegression(C=C, class_weight="balanced", max_iter=10000, tol=LINEAR_TOL).fit(X, y)
        fits.append((m.coef_, m.intercept_))
    return fits


def new(X: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    fits = _logistic_path(X, y, int(y.max()) + 1, compute_sample_weight("balanced", y), list(CS), LINEAR_TOL, 10000)
    return [(coef, b) for coef, b, _ in fits]


def proba(X: np.ndarray, coef: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = X @ coef.T + b
    return expit(z) if coef.shape[0] == 1 else softmax(z, axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1900)
    ap.add_argument("--dim", type=int, default=500)
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--rank", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    X, y = make_problem(args.n, args.dim, args.classes, args.rank)
    print(f"n={args.n} d={args.dim} classes={args.classes} rank={np.linalg.matrix_rank(X)} Cs={CS}")
    ratios = []
    with threadpool_limits(limits=1, user_api="blas"):
        for rep in range(args.repeats):
            times = {}
            for name in (("old", "new") if rep % 2 == 0 else ("new", "old")):
                t = time.process_time()
                fits = {"old": old, "new": new}[name](X, y)
                times[name] = time.process_time() - t
                if name == "old":
                    old_fits = fits
                else:
                    new_fits = fits
            ratios.append(times["old"] / times["new"])
            print(f"pair {rep}: old {times['old']:.2f} s  new {times['new']:.2f} s  (CPU)  ratio {ratios[-1]:.2f}")
    for C, (co, bo), (cn, bn) in zip(CS, old_fits, new_fits):
        dcoef = np.abs(co - cn).max() / np.abs(cn).max()
        po, pn = proba(X, co, bo), proba(X, cn, bn)
        same = np.mean(po.argmax(1) == pn.argmax(1)) if po.shape[1] > 1 else np.mean((po > .5) == (pn > .5))
        print(f"C={C:g}: coef max rel diff {dcoef:.1e}, proba max diff {np.abs(po - pn).max():.1e}, "
              f"same train predictions {same:.4f}")
    print(f"ratio old/new: median {np.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
