"""Probes: a classifier trained on frozen neuron embeddings, tuned on validation only.

Protocol (``evaluation.md``, "Probes"): every method's embedding goes through the same
probe on the same split. The headline probe is the papers' linear probe: NuCLR's probe
is a StandardScaler fitted on probe-train followed by a class-balanced (multinomial)
logistic regression with C=1; we instead choose C on validation macro-F1 from
{0.01, 0.1, 1, 10}. An MLP probe (one hidden layer, early stopping on validation) and an
XGBoost probe (a small grid chosen on validation) are reported as separate columns.
Class balance is by class weights by default; random oversampling is an option of the
linear probe (NuCLR's IBL numbers used it). Every hyperparameter is a protocol constant
(`neuronbench.protocol.constants`); the validation score is the protocol's macro-F1.

Common rules of the three probes:

- scikit-learn estimators: ``fit(X, y, X_val=None, y_val=None)`` returns self, the
  constructor does no work, fitted state ends in ``_``; labels may be strings.
- The validation set only selects hyperparameters (and, for the MLP, the epoch to keep);
  the final model is trained on the training set only. Ties in validation macro-F1
  (scores within ``TIE_TOL``, so that a last-bit difference of the floating-point sum
  cannot break a tie) go to the earlier grid point (grids are tried in ascending order).
- ``best_params_`` holds the chosen hyperparameters; ``val_scores_`` is a list of
  ``{**params, "val_macro_f1": score}``, one per grid point (empty when there was
  nothing to choose on).
- Deterministic given ``random_state``.
- Single-threaded: BLAS is limited to one thread during fit and predict (the matrices
  are small, several probes may run side by side, and the result must not depend on the
  executor's thread count), xgboost gets ``n_jobs=1``.

Reproducibility across machines (the linear probe): logistic regression is a strictly
convex problem, so its solution does not depend on the machine, but where an iterative
solver *stops* does. With scikit-learn's lbfgs at its default ``tol=1e-4`` it stopped short
of the optimum, at an iterate that depends on the rounding of the BLAS kernels (OpenBLAS
picks them per CPU): on the default synthetic dataset the same embedding gave subclass
macro-F1 0.7802 with OpenBLAS's Haswell kernels and 0.7820 with its generic ones
(``OPENBLAS_CORETYPE=Prescott``), one test prediction apart. The probe therefore solves
to ``LINEAR_TOL``: a Newton method (`_newton_cg`) stops when every gradient component of
the unscaled objective ``C sum_i s_i loss_i + ||W||^2 / 2`` is at most 1e-8; the penalty's
Hessian is the identity, so the coefficients are then within about 1e-8 of the optimum.
It solves in the row space of the scaled training matrix (exact: `_row_space`), so an
embedding of rank r < d (and any training set of fewer than d neurons) costs r columns,
and each C of the grid starts from the previous C's solution.
Stated tolerance: with the same library versions, two machines give the same linear-probe
predictions but for test points that close to a decision boundary; `neuronbench verify`
accepts a record when every probe's macro-F1 is within ``neuronbench.verify.METRIC_TOL``
(0.001) and at least ``AGREEMENT_MIN`` (99 %) of its predictions agree. Not covered: the
MLP probe's adam path over many epochs was not made independent of the BLAS kernels.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from typing import Any

import numpy as np
from scipy.special import expit, log_softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from threadpoolctl import threadpool_limits

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import constants as c
from neuronbench.protocol.constants import LINEAR_TOL, MLP_TOL, PROBES, TIE_TOL
from neuronbench.protocol.constants import LINEAR_DEFAULT_C as DEFAULT_C
from neuronbench.protocol.constants import MLP_INTERNAL_VAL_FRACTION as INTERNAL_VAL_FRACTION
from neuronbench.protocol.metrics import macro_f1

__all__ = ["PROBES", "LinearProbe", "MLPProbe", "XGBoostProbe", "make_probe"]


def _seed(random_state: Any) -> int:
    """An int seed from a scikit-learn style ``random_state`` (int, None or RandomState)."""
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _row_space(Xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(Z, V)`` with ``Xs = Z V^T``, ``V`` (d, r) orthonormal, ``r`` the numerical rank and
    ``Z = U S`` (orthogonal columns). The L2-penalised optimum lies in the row space of
    ``Xs`` (a component orthogonal to it changes no logit and only adds penalty), and
    ``||W V|| = ||W||`` there, so solving on ``Z`` and mapping back by ``V^T`` is exact."""
    U, sv, Vt = np.linalg.svd(Xs, full_matrices=False)
    r = int(np.sum(sv > sv[0] * max(Xs.shape) * np.finfo(np.float64).eps)) if sv.size else 0
    return U[:, :r] * sv[:r], Vt[:r].T


class _Logistic:
    """Class-weighted logistic loss on ``Z``: multinomial (softmax over K columns), or the
    binary model (one column, sigmoid) for two classes, as scikit-learn fits them.
    Parameters ``theta = [W (m, r) row-major, b (m)]``; objective (unscaled, so the
    penalty's Hessian is the identity) ``C sum_i s_i loss_i + ||W||^2 / 2``."""

    def __init__(self, Z: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray):
        self.Z, self.y, self.binary = Z, y, n_classes == 2
        self.m = 1 if self.binary else n_classes
        self.Y = (y == 1).astype(np.float64)[:, None] if self.binary else np.eye(n_classes)[y]
        self.s = sample_weight
        self.Z2 = Z * Z

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = self.Z.shape[1]
        return theta[: self.m * r].reshape(self.m, r), theta[self.m * r:]

    def value_grad(self, theta: np.ndarray, C: float) -> tuple[float, np.ndarray, np.ndarray]:
        """(objective, gradient, probabilities P (n, m)) at ``theta``."""
        W, b = self.split(theta)
        z = self.Z @ W.T + b
        if self.binary:
            loss = np.logaddexp(0.0, z[:, 0]) - self.Y[:, 0] * z[:, 0]
            P = expit(z)
        else:
            logp = log_softmax(z, axis=1)
            loss = -logp[np.arange(len(self.y)), self.y]
            P = np.exp(logp)
        cs = C * self.s
        R = cs[:, None] * (P - self.Y)
        grad = np.concatenate([(R.T @ self.Z + W).ravel(), R.sum(axis=0)])
        return float(cs @ loss + 0.5 * np.sum(W * W)), grad, P

    def hessp(self, P: np.ndarray, C: float, v: np.ndarray) -> np.ndarray:
        """Hessian-vector product at the point with probabilities ``P``."""
        V, c = self.split(v)
        dz = self.Z @ V.T + c
        cs = C * self.s
        if self.binary:
            dR = (cs * P[:, 0] * (1.0 - P[:, 0]))[:, None] * dz
        else:
            pdz = P * dz
            dR = cs[:, None] * (pdz - P * pdz.sum(axis=1, keepdims=True))
        return np.concatenate([(dR.T @ self.Z + V).ravel(), dR.sum(axis=0)])

    def hess_diag(self, P: np.ndarray, C: float) -> np.ndarray:
        """The Hessian's diagonal at ``P`` (the Jacobi preconditioner; ``Z``'s columns are
        orthogonal, which makes it a good one)."""
        curv = (C * self.s)[:, None] * P * (1.0 - P)
        return np.concatenate([(curv.T @ self.Z2 + 1.0).ravel(), curv.sum(axis=0)])


def _newton_cg(loss: _Logistic, C: float, theta: np.ndarray, tol: float, max_iter: int
               ) -> tuple[np.ndarray, int, bool]:
    """Minimise ``loss`` at ``C`` from ``theta`` by Newton's method: each step solved by
    Jacobi-preconditioned conjugate gradients (exact Hessian-vector products, forcing
    term ``min(0.5, sqrt(|g|))``), then a backtracking Armijo line search. Stops when
    ``max |g_i| <= tol``; the Hessian is at least the identity on ``W``, so ``W`` is then
    within about ``tol`` of the optimum. Returns (theta, Newton iterations, converged)."""
    f, g, P = loss.value_grad(theta, C)
    for it in range(max_iter):
        if np.max(np.abs(g)) <= tol:
            return theta, it, True
        gnorm = float(np.linalg.norm(g))
        inv_diag = 1.0 / np.maximum(loss.hess_diag(P, C), 1e-12)
        # preconditioned CG on H p = -g
        p, r = np.zeros_like(g), -g
        q = inv_diag * r
        d, rq = q.copy(), float(r @ q)
        cg_tol = min(0.5, np.sqrt(gnorm)) * gnorm
        for _ in range(10 * g.size):
            Hd = loss.hessp(P, C, d)
            step = rq / float(d @ Hd)
            p += step * d
            r -= step * Hd
            if np.linalg.norm(r) <= cg_tol:
                break
            q = inv_diag * r
            rq, rq_old = float(r @ q), rq
            d = q + (rq / rq_old) * d
        # Armijo backtracking; near the optimum the decrease is below f's rounding, so a
        # full step that lowers the gradient is also accepted
        slope, t = float(g @ p), 1.0
        while True:
            f_new, g_new, P_new = loss.value_grad(theta + t * p, C)
            if f_new <= f + 1e-4 * t * slope:
                break
            if t == 1.0 and f_new <= f + 1e-12 * abs(f) and np.linalg.norm(g_new) < gnorm:
                break
            t *= 0.5
            if t < 1e-10:  # no progress possible at this precision
                return theta, it + 1, np.max(np.abs(g)) <= tol
        theta, f, g, P = theta + t * p, f_new, g_new, P_new
    return theta, max_iter, bool(np.max(np.abs(g)) <= tol)


def _logistic_path(Xs: np.ndarray, y: np.ndarray, n_classes: int, sample_weight: np.ndarray,
                   Cs: list[float], tol: float, max_iter: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Class-weighted logistic regression at each ``C`` of ``Cs`` (ascending: each fit
    starts from the previous solution), solved in ``Xs``'s row space (`_row_space`).
    Returns, per C, (coef (m, d), intercept (m), Newton iterations); multinomial
    intercepts are centred (the objective does not see a common shift)."""
    Z, V = _row_space(Xs)
    loss = _Logistic(Z, y, n_classes, sample_weight)
    theta = np.zeros(loss.m * (Z.shape[1] + 1))
    out = []
    for C in Cs:
        theta, n_iter, converged = _newton_cg(loss, float(C), theta, tol, max_iter)
        if not converged:
            warnings.warn(f"linear probe: Newton-CG did not reach tol={tol} in {max_iter} iterations "
                          f"(C={C})", ConvergenceWarning)
        W, b = loss.split(theta)
        out.append((W @ V.T, b if loss.binary else b - b.mean(), n_iter))
    return out


class _Probe(ClassifierMixin, BaseEstimator):
    """Input checks and label encoding shared by the probes.

    Subclasses implement ``_fit_encoded(X, y, X_val, y_val)`` on float arrays and integer
    labels ``0..K-1`` (validation labels unseen in training are ``-1``), and
    ``_predict_proba_encoded(X)``.
    """

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit on (X, y); (X_val, y_val), if given, only selects hyperparameters."""
        with threadpool_limits(limits=1, user_api="blas"):
            self._fit(X, y, X_val, y_val)
        return self

    def _fit(self, X, y, X_val, y_val) -> None:
        X, y = validate_data(self, X, y, dtype=np.float64)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, y_enc = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes in y; got 1 class "
                f"({self.classes_[0]!r})"
            )
        if (X_val is None) != (y_val is None):
            raise ValueError("give both X_val and y_val, or neither")
        y_val_enc = None
        if X_val is not None:
            X_val = validate_data(self, X_val, reset=False, dtype=np.float64)
            y_val = column_or_1d(y_val)
            if len(y_val) != X_val.shape[0]:
                raise ValueError(
                    f"X_val has {X_val.shape[0]} rows but y_val has {len(y_val)} labels"
                )
            code = {c: i for i, c in enumerate(self.classes_)}
            y_val_enc = np.array([code.get(c, -1) for c in y_val], dtype=np.int64)
            if not np.any(y_val_enc >= 0):
                raise ValueError("no label of y_val occurs in y: cannot validate")
        self._fit_encoded(X, y_enc.astype(np.int64), X_val, y_val_enc)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, columns in ``classes_`` order."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        with threadpool_limits(limits=1, user_api="blas"):
            return self._predict_proba_encoded(X)

    def predict(self, X) -> np.ndarray:
        """The most probable class of each row."""
        proba = self.predict_proba(X)  # first: raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]

    def _fit_encoded(self, X, y, X_val, y_val) -> None:
        raise NotImplementedError

    def _predict_proba_encoded(self, X) -> np.ndarray:
        raise NotImplementedError


class LinearProbe(_Probe):
    """The headline probe: StandardScaler + class-balanced multinomial logistic regression.

    As NuCLR's probe (StandardScaler fitted on probe-train, class-balanced logistic
    regression, C=1), except that with a validation set C is chosen from ``C_grid`` by
    validation macro-F1 (ties within ``TIE_TOL`` -> smaller C) and the final model is the
    one trained on the training set with that C. Without a validation set C =
    ``DEFAULT_C`` = 1. The optimum is that of scikit-learn's LogisticRegression (lbfgs,
    multinomial; with two classes the binary model), solved to ``tol`` = ``LINEAR_TOL``
    by `_logistic_path` so that the predictions do not depend on the machine's BLAS
    (module docstring).

    Args:
        C_grid: inverse regularisation strengths to try.
        oversample: instead of class weights, randomly oversample (with replacement,
            seeded by ``random_state``) every class to the majority class count, as
            NuCLR did for IBL. The scaler is fitted on the original training set.
        max_iter: Newton iterations per C; a ConvergenceWarning is raised if too few.
        tol: largest gradient component of the unscaled objective at which to stop.
        random_state: seed of the oversampling (the solver itself is deterministic).

    Attributes:
        scaler_, model_: the fitted StandardScaler, and a LogisticRegression holding the
            solution (``coef_``, ``intercept_``; multinomial intercepts centred).
        best_params_: ``{"C": C}``. val_scores_: see the module docstring.
        n_iter_: Newton iterations of the final model.
    """

    def __init__(self, C_grid=c.LINEAR_C_GRID, oversample=False, max_iter=c.LINEAR_MAX_ITER,
                 tol=LINEAR_TOL, random_state=0):
        self.C_grid = C_grid
        self.oversample = oversample
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state

    def _fit_encoded(self, X, y, X_val, y_val) -> None:
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        if self.oversample:
            rng = np.random.default_rng(_seed(self.random_state))
            counts = np.bincount(y)
            extra = [
                rng.choice(np.flatnonzero(y == c), size=counts.max() - counts[c], replace=True)
                for c in range(len(counts))
            ]
            idx = np.concatenate([np.arange(len(y)), *extra])
            Xs, y = Xs[idx], y[idx]

        weights = np.ones(len(y)) if self.oversample else compute_sample_weight("balanced", y)
        Cs = [DEFAULT_C] if X_val is None else sorted(float(c) for c in self.C_grid)
        fits = _logistic_path(Xs, y, len(self.classes_), weights, Cs, self.tol, self.max_iter)
        models = [self._model(C, *fit) for C, fit in zip(Cs, fits)]
        if X_val is None:
            self.model_ = models[0]
            self.best_params_ = {"C": DEFAULT_C}
            self.val_scores_ = []
        else:
            Xs_val = self.scaler_.transform(X_val)
            self.val_scores_, best_score = [], -np.inf
            for C, model in zip(Cs, models):
                score = macro_f1(y_val, model.predict(Xs_val))
                self.val_scores_.append({"C": C, "val_macro_f1": score})
                if score > best_score + TIE_TOL:  # ties keep the smaller C
                    best_score, self.model_, self.best_params_ = score, model, {"C": C}
        self.n_iter_ = self.model_.n_iter_

    def _model(self, C: float, coef: np.ndarray, intercept: np.ndarray, n_iter: int) -> LogisticRegression:
        """A fitted scikit-learn LogisticRegression holding one solution (for predict_proba)."""
        model = LogisticRegression(
            C=C,
            class_weight=None if self.oversample else "balanced",
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=_seed(self.random_state),
        )
        model.classes_ = np.arange(len(self.classes_))
        model.coef_, model.intercept_ = coef, intercept
        model.n_iter_ = np.array([n_iter], dtype=np.int32)
        model.n_features_in_ = coef.shape[1]
        return model

    def _predict_proba_encoded(self, X) -> np.ndarray:
        return self.model_.predict_proba(self.scaler_.transform(X))


def _internal_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: ``INTERNAL_VAL_FRACTION`` of each class (rounded,
    keeping at least one training example per class) to validation, chosen by a
    permutation seeded with ``seed``. Returns (train indices, validation indices)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n_val = min(int(round(INTERNAL_VAL_FRACTION * len(idx))), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _train_mlp(
    Xs: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    hidden: int,
    alpha: float,
    seed: int,
    max_epochs: int,
    patience: int,
    batch_size: int,
    learning_rate_init: float,
    Xs_val: np.ndarray | None = None,
    y_val: np.ndarray | None = None,
) -> tuple[MLPClassifier, int, float | None]:
    """Train a one-hidden-layer MLP (adam, class-balanced sample weights) epoch by epoch.

    With a validation set, early stopping monitors the class-balanced cross-entropy on
    the validation rows whose label occurs in training (smooth, unlike macro-F1, which
    plateaus for many epochs early on): training stops once it has not decreased by
    more than ``MLP_TOL`` for ``patience`` epochs, and the weights of the best epoch are
    returned with their validation macro-F1 (over all validation rows). Without a
    validation set, train exactly ``max_epochs`` epochs. The training trajectory never
    depends on the validation set, only where it is cut. Returns (model, epochs, score).
    """
    model = MLPClassifier(
        hidden_layer_sizes=(hidden,),
        alpha=alpha,
        batch_size=min(batch_size, len(y)),
        learning_rate_init=learning_rate_init,
        # a RandomState object (not an int): partial_fit would otherwise re-seed each
        # epoch and visit the mini-batches in the same order every time.
        random_state=np.random.RandomState(seed),
    )
    weights = compute_sample_weight("balanced", y)
    classes = np.arange(n_classes)
    if Xs_val is not None:
        known = y_val >= 0
        X_known, y_known = Xs_val[known], y_val[known]
        known_weights = compute_sample_weight("balanced", y_known)
    best_model, best_epoch, best_loss = model, 0, np.inf
    for epoch in range(1, max_epochs + 1):
        model.partial_fit(Xs, y, sample_weight=weights, classes=classes)
        if Xs_val is None:
            best_model, best_epoch = model, epoch
            continue
        p_true = model.predict_proba(X_known)[np.arange(len(y_known)), y_known]
        loss = -np.average(np.log(np.maximum(p_true, 1e-15)), weights=known_weights)
        if loss < best_loss - MLP_TOL:
            best_model, best_epoch, best_loss = copy.deepcopy(model), epoch, loss
        elif epoch - best_epoch >= patience:
            break
    if Xs_val is None:
        return best_model, best_epoch, None
    return best_model, best_epoch, macro_f1(y_val, best_model.predict(Xs_val))


class MLPProbe(_Probe):
    """One-hidden-layer MLP probe with early stopping on the given validation set.

    Inputs are standardised (StandardScaler fitted on the training set). Class balance:
    class-balanced sample weights (``n / (K n_c)``) in the loss, not balanced batches.
    For each grid point (``hidden_grid`` x ``alpha_grid``) the network is trained with
    adam one epoch at a time on the training set; after each epoch the class-balanced
    validation cross-entropy is measured, training stops after ``patience`` epochs
    without improvement and the best epoch's weights are kept (``_train_mlp``). The grid
    point whose kept weights have the best validation macro-F1 wins (ties -> earlier
    grid point: smaller network, then smaller alpha); its network is the final model,
    so ``best_params_`` includes ``epochs``. Every grid point starts from the same seed.
    ``alpha`` is scikit-learn's L2 penalty (divided by the batch size there): 1e-4 is
    practically none (1e-2 gave the same networks as 1e-4), 1.0 is a real shrinkage.

    Without a validation set, ``INTERNAL_VAL_FRACTION`` (20 %) of each class of the
    training data is held out by a permutation seeded with ``random_state``
    (``_internal_split``) and plays the validation set; the model is then trained on
    the remaining 80 %. If nothing can be held out (tiny classes), it trains
    ``max_epochs`` epochs on everything with the first grid point.

    Attributes:
        scaler_, model_ (the MLPClassifier, trained on encoded labels 0..K-1),
        best_params_ ({"hidden", "alpha", "epochs"}), val_scores_, n_iter_ (= epochs).
    """

    def __init__(self, hidden_grid=c.MLP_HIDDEN_GRID, alpha_grid=c.MLP_ALPHA_GRID, max_epochs=c.MLP_MAX_EPOCHS,
                 patience=c.MLP_PATIENCE, batch_size=c.MLP_BATCH_SIZE, learning_rate_init=c.MLP_LEARNING_RATE,
                 random_state=0):
        self.hidden_grid = hidden_grid
        self.alpha_grid = alpha_grid
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.random_state = random_state

    def _fit_encoded(self, X, y, X_val, y_val) -> None:
        seed = _seed(self.random_state)
        if X_val is None:
            train, val = _internal_split(y, seed)
            X, X_val, y, y_val = X[train], X[val], y[train], y[val]
            if len(val) == 0:
                X_val = y_val = None
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        Xs_val = None if X_val is None else self.scaler_.transform(X_val)
        settings = dict(
            seed=seed, max_epochs=self.max_epochs, patience=self.patience,
            batch_size=self.batch_size, learning_rate_init=self.learning_rate_init,
            Xs_val=Xs_val, y_val=y_val,
        )
        grid = list(itertools.product(sorted(self.hidden_grid), sorted(self.alpha_grid)))
        if Xs_val is None:
            grid = grid[:1]

        self.val_scores_, best_score = [], -np.inf
        for hidden, alpha in grid:
            model, epochs, score = _train_mlp(
                Xs, y, len(self.classes_), hidden=int(hidden), alpha=float(alpha), **settings
            )
            params = {"hidden": int(hidden), "alpha": float(alpha), "epochs": epochs}
            if score is None:  # nothing to choose on
                self.model_, self.best_params_ = model, params
                break
            self.val_scores_.append({**params, "val_macro_f1": score})
            if score > best_score + TIE_TOL:
                best_score, self.model_, self.best_params_ = score, model, params
        self.n_iter_ = self.best_params_["epochs"]

    def _predict_proba_encoded(self, X) -> np.ndarray:
        return self.model_.predict_proba(self.scaler_.transform(X))


class XGBoostProbe(_Probe):
    """Gradient-boosted trees probe (xgboost ``XGBClassifier``, hist method).

    Class balance by class-balanced sample weights (``n / (K n_c)``). With a validation
    set, each (max_depth, n_estimators) of the grid is scored by validation macro-F1
    and the best one is kept (ties -> the shallower, then the smaller, model). For
    speed, one model per depth is trained for ``max(n_estimators_grid)`` rounds and a
    smaller ``n_estimators`` is scored (and, if chosen, used) through its first
    ``n_estimators`` rounds: boosting is sequential and, without subsampling,
    deterministic, so these are exactly the trees a model trained for
    ``n_estimators`` rounds would have. The final model is trained on the training set
    only. Without a validation set the first value of each grid is used (max_depth=2,
    n_estimators=100 by default). ``max_bin`` (histogram bins per feature) is lowered
    from xgboost's 256 to 32 for speed (about 2x; no loss of test macro-F1 seen on
    synthetic 64-d embeddings). String labels are encoded as 0..K-1.

    Attributes:
        model_ (the XGBClassifier; only its first ``best_params_["n_estimators"]``
        rounds are used), best_params_ ({"max_depth", "n_estimators"}), val_scores_.
    """

    def __init__(self, max_depth_grid=c.XGB_MAX_DEPTH_GRID, n_estimators_grid=c.XGB_N_ESTIMATORS_GRID,
                 learning_rate=c.XGB_LEARNING_RATE, max_bin=c.XGB_MAX_BIN, random_state=0, n_jobs=1):
        self.max_depth_grid = max_depth_grid
        self.n_estimators_grid = n_estimators_grid
        self.learning_rate = learning_rate
        self.max_bin = max_bin
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _fit_encoded(self, X, y, X_val, y_val) -> None:
        weights = compute_sample_weight("balanced", y)
        if X_val is None:
            depth, n_estimators = int(self.max_depth_grid[0]), int(self.n_estimators_grid[0])
            self.model_ = self._train(X, y, weights, depth, n_estimators)
            self.best_params_ = {"max_depth": depth, "n_estimators": n_estimators}
            self.val_scores_ = []
            return
        rounds = sorted(int(n) for n in self.n_estimators_grid)
        self.val_scores_, best_score = [], -np.inf
        for depth in sorted(int(d) for d in self.max_depth_grid):
            model = self._train(X, y, weights, depth, rounds[-1])
            for n_estimators in rounds:
                proba = model.predict_proba(X_val, iteration_range=(0, n_estimators))
                score = macro_f1(y_val, np.argmax(proba, axis=1))
                params = {"max_depth": depth, "n_estimators": n_estimators}
                self.val_scores_.append({**params, "val_macro_f1": score})
                if score > best_score + TIE_TOL:
                    best_score, self.model_, self.best_params_ = score, model, params

    def _train(self, X, y, weights, max_depth: int, n_estimators: int):
        from xgboost import XGBClassifier  # imported here: importing probes stays light

        model = XGBClassifier(
            max_depth=max_depth,
            n_estimators=n_estimators,
            learning_rate=self.learning_rate,
            max_bin=self.max_bin,
            tree_method="hist",
            random_state=_seed(self.random_state),
            n_jobs=self.n_jobs,
            verbosity=0,
        )
        return model.fit(X, y, sample_weight=weights)

    def _predict_proba_encoded(self, X) -> np.ndarray:
        return self.model_.predict_proba(
            X, iteration_range=(0, self.best_params_["n_estimators"])
        )


def make_probe(name: str, seed: int) -> _Probe:
    """The probe called ``name`` (one of ``PROBES``) with its default grid and ``seed``."""
    if name == "linear":
        return LinearProbe(random_state=seed)
    if name == "mlp":
        return MLPProbe(random_state=seed)
    if name == "xgboost":
        return XGBoostProbe(random_state=seed)
    raise NeuronbenchError(f"unknown probe {name!r}; valid probes: {', '.join(PROBES)}")
