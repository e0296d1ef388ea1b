"""neuronbench.probes: scikit-learn contract, validation-only tuning, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.estimator_checks import parametrize_with_checks

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol.metrics import classification_metrics
from neuronbench.probes import (
    PROBES,
    LinearProbe,
    MLPProbe,
    XGBoostProbe,
    _train_mlp,
    make_probe,
)

# Small grids where the full ones would only make the tests slow; the code paths are the same.
SMALL_MLP = dict(hidden_grid=(16,), alpha_grid=(1e-4,), max_epochs=40, learning_rate_init=1e-2)
SMALL_XGB = dict(max_depth_grid=(2,), n_estimators_grid=(20,))


@parametrize_with_checks(
    [LinearProbe(), MLPProbe(**SMALL_MLP), XGBoostProbe(**SMALL_XGB)]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _blobs(n: int, k: int, d: int, separation: float, seed: int):
    """Gaussian classes with string labels "type0".."type{k-1}"."""
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1234).normal(size=(k, d)) * separation
    y = rng.integers(0, k, size=n)
    X = centers[y] + rng.normal(size=(n, d))
    return X, np.array([f"type{c}" for c in y])


def _split(X, y):
    """60 % train, 20 % validation, 20 % test."""
    a, b = int(0.6 * len(y)), int(0.8 * len(y))
    return (X[:a], y[:a]), (X[a:b], y[a:b]), (X[b:], y[b:])


def _probes(fast: bool = True):
    return [
        LinearProbe(),
        MLPProbe(**SMALL_MLP) if fast else MLPProbe(),
        XGBoostProbe(n_estimators_grid=(50, 100)) if fast else XGBoostProbe(),
    ]


@pytest.mark.parametrize("probe", _probes(), ids=PROBES)
def test_learns_an_easy_problem_with_string_labels(probe):
    (Xtr, ytr), (Xva, yva), (Xte, yte) = _split(*_blobs(1000, 3, 16, 1.5, seed=0))
    probe.fit(Xtr, ytr, Xva, yva)
    assert list(probe.classes_) == ["type0", "type1", "type2"]
    pred = probe.predict(Xte)
    assert set(pred) <= set(probe.classes_)
    assert classification_metrics(yte, pred, probe.classes_)["macro_f1"] > 0.9
    proba = probe.predict_proba(Xte)
    assert proba.shape == (len(yte), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("probe", _probes(), ids=PROBES)
def test_near_chance_on_pure_noise(probe):
    (Xtr, ytr), (Xva, yva), (Xte, yte) = _split(*_blobs(1500, 3, 16, 0.0, seed=1))
    probe.fit(Xtr, ytr, Xva, yva)
    f1 = classification_metrics(yte, probe.predict(Xte), probe.classes_)["macro_f1"]
    assert abs(f1 - 1 / 3) < 0.1  # uniform chance for 3 balanced classes: ~1/3


@pytest.mark.parametrize("probe", _probes(), ids=PROBES)
def test_same_seed_same_predictions(probe):
    (Xtr, ytr), (Xva, yva), (Xte, _) = _split(*_blobs(500, 3, 8, 0.5, seed=2))
    first = probe.fit(Xtr, ytr, Xva, yva).predict_proba(Xte)
    second = make_like(probe).fit(Xtr, ytr, Xva, yva).predict_proba(Xte)
    np.testing.assert_array_equal(first, second)


def make_like(probe):
    return type(probe)(**probe.get_params())


def test_mlp_seed_matters():
    (Xtr, ytr), (Xva, yva), (Xte, _) = _split(*_blobs(500, 3, 8, 0.5, seed=2))
    a = MLPProbe(**SMALL_MLP, random_state=0).fit(Xtr, ytr, Xva, yva).predict_proba(Xte)
    b = MLPProbe(**SMALL_MLP, random_state=1).fit(Xtr, ytr, Xva, yva).predict_proba(Xte)
    assert not np.array_equal(a, b)


# --- linear probe: C chosen on validation -------------------------------------------------


def _correlated(n: int, rho: float, seed: int):
    """Two classes differing along feature 0, noise with correlation ``rho``.

    Trained on rho=0.9, a weakly regularised model learns the discriminant
    Sigma^-1 dmu ~ (1, -0.9); a strongly regularised one stays near the mean difference
    (1, 0). On validation data like the training data the former wins (large C); on
    validation data with independent noise (rho=0) the latter does (small C)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
    X[:, 0] += y - 0.5
    return X, np.where(y == 1, "exc", "inh")


def _assert_best_c_maximises(probe):
    scores = {v["C"]: v["val_macro_f1"] for v in probe.val_scores_}
    assert sorted(scores) == [0.01, 0.1, 1.0, 10.0]
    best = max(scores.values())
    assert probe.best_params_["C"] == min(c for c, s in scores.items() if s == best)


def test_validation_chooses_c():
    Xtr, ytr = _correlated(300, 0.9, seed=0)
    like_train = LinearProbe().fit(Xtr, ytr, *_correlated(300, 0.9, seed=1))
    independent = LinearProbe().fit(Xtr, ytr, *_correlated(300, 0.0, seed=2))
    _assert_best_c_maximises(like_train)
    _assert_best_c_maximises(independent)
    assert like_train.best_params_["C"] >= 1.0
    assert independent.best_params_["C"] == 0.01


def test_c_ties_go_to_the_smaller_c():
    X, y = _blobs(200, 2, 4, 10.0, seed=3)  # separable: every C scores 1.0
    probe = LinearProbe().fit(X[:100], y[:100], X[100:], y[100:])
    assert all(v["val_macro_f1"] == 1.0 for v in probe.val_scores_)
    assert probe.best_params_ == {"C": 0.01}


def test_linear_without_validation_uses_c_1():
    X, y = _blobs(200, 3, 4, 1.0, seed=4)
    probe = LinearProbe().fit(X, y)
    assert probe.best_params_ == {"C": 1.0} and probe.val_scores_ == []
    assert probe.model_.C == 1.0


def test_linear_final_model_is_trained_on_train_only():
    Xtr, ytr = _correlated(300, 0.9, seed=0)
    probe = LinearProbe().fit(Xtr, ytr, *_correlated(300, 0.0, seed=2))
    C = probe.best_params_["C"]
    # same C chosen by a different validation set -> identical weights
    other = LinearProbe().fit(Xtr, ytr, *_correlated(500, 0.0, seed=5))
    assert other.best_params_["C"] == C
    np.testing.assert_array_equal(probe.model_.coef_, other.model_.coef_)
    # and they are those of the plain recipe on train only (scikit-learn, solved tighter)
    scaler = StandardScaler().fit(Xtr)
    reference = LogisticRegression(C=C, class_weight="balanced", max_iter=100000, tol=1e-10)
    reference.fit(scaler.transform(Xtr), np.unique(ytr, return_inverse=True)[1])
    _assert_same_solution(probe.model_, reference, scaler.transform(Xtr))


def _assert_same_solution(model, reference, X):
    """Coefficients within 1e-5 of their largest magnitude, probabilities within 1e-6."""
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(model.predict_proba(X), reference.predict_proba(X), rtol=0, atol=1e-6)


@pytest.mark.parametrize("k", [2, 4])
def test_linear_solution_on_rank_deficient_input(k):
    """The solver works in the row space of the scaled matrix (here rank 30 < 80 columns,
    with duplicated and constant columns): the same optimum as scikit-learn's."""
    rng = np.random.default_rng(k)
    y = rng.integers(0, k, size=120)
    base = rng.normal(size=(k, 30))[y] + rng.normal(size=(120, 30))
    X = np.hstack([base @ rng.normal(size=(30, 70)), base[:, :5], np.ones((120, 5))])
    for C in (0.1, 10.0):
        probe = LinearProbe(C_grid=(C,)).fit(X, y, X[:40], y[:40])
        Xs = StandardScaler().fit_transform(X)
        reference = LogisticRegression(C=C, class_weight="balanced", max_iter=100000, tol=1e-10).fit(Xs, y)
        assert probe.model_.coef_.shape == reference.coef_.shape
        _assert_same_solution(probe.model_, reference, Xs)


def test_linear_does_not_depend_on_the_callers_thread_limit():
    from threadpoolctl import threadpool_limits

    X, y = _blobs(400, 3, 40, 0.5, seed=8)
    fits = []
    for limit in (1, 2):
        with threadpool_limits(limits=limit, user_api="blas"):
            probe = LinearProbe().fit(X[:300], y[:300], X[300:], y[300:])
            fits.append((probe.model_.coef_, probe.predict_proba(X)))
    np.testing.assert_array_equal(fits[0][0], fits[1][0])
    np.testing.assert_array_equal(fits[0][1], fits[1][1])


def test_linear_is_solved_to_the_optimum():
    """lbfgs with scikit-learn's default tol=1e-4 stopped where the BLAS kernels' rounding
    led it (0.05 off here), which moved a committed score across machines; the probe
    solves to the optimum, which does not depend on the machine."""
    X, y = _blobs(300, 4, 20, 0.5, seed=0)
    probe = LinearProbe(C_grid=(10,)).fit(X, y, X[:50], y[:50])
    Xs = StandardScaler().fit_transform(X)
    optimum = LogisticRegression(C=10, class_weight="balanced", tol=1e-10, max_iter=100000)
    optimum.fit(Xs, np.unique(y, return_inverse=True)[1])
    _assert_same_solution(probe.model_, optimum, Xs)


def test_c_near_ties_go_to_the_smaller_c(monkeypatch):
    """Validation scores equal up to the last bits of a float sum are a tie."""
    from neuronbench import probes

    scores = iter([0.75, 0.75 + 1e-15, 0.5, 0.5])
    monkeypatch.setattr(probes, "macro_f1", lambda y_true, y_pred: next(scores))
    X, y = _blobs(200, 3, 4, 1.0, seed=3)
    probe = LinearProbe().fit(X[:100], y[:100], X[100:], y[100:])
    assert probe.best_params_ == {"C": 0.01}


def test_linear_warns_when_not_converged():
    X, y = _blobs(300, 3, 8, 1.0, seed=6)
    with pytest.warns(ConvergenceWarning):
        LinearProbe(max_iter=2).fit(X, y)


def test_linear_oversampling():
    X, y = _blobs(400, 3, 8, 1.0, seed=7)
    keep = (y != "type2") | (np.arange(len(y)) % 5 == 0)  # make type2 a small class
    X, y = X[keep], y[keep]
    a = LinearProbe(oversample=True).fit(X, y)
    b = LinearProbe(oversample=True).fit(X, y)
    weighted = LinearProbe().fit(X, y)
    np.testing.assert_array_equal(a.model_.coef_, b.model_.coef_)
    assert a.model_.class_weight is None and weighted.model_.class_weight == "balanced"
    assert not np.allclose(a.model_.coef_, weighted.model_.coef_)
    assert classification_metrics(y, a.predict(X), a.classes_)["macro_f1"] > 0.7


# --- MLP and XGBoost -------------------------------------------------------------------------


def test_mlp_final_weights_depend_on_validation_only_through_params():
    (Xtr, ytr), (Xva, yva), _ = _split(*_blobs(500, 3, 8, 0.8, seed=8))
    probe = MLPProbe(hidden_grid=(8, 16), alpha_grid=(1e-4,), max_epochs=60,
                     learning_rate_init=1e-2).fit(Xtr, ytr, Xva, yva)
    params = probe.best_params_
    assert 1 <= params["epochs"] <= 60 and len(probe.val_scores_) == 2
    best = max(v["val_macro_f1"] for v in probe.val_scores_)
    assert probe.val_scores_[[v["val_macro_f1"] for v in probe.val_scores_].index(best)] == {
        **params, "val_macro_f1": best
    }
    # training the chosen network for the chosen number of epochs, without any validation
    # data, gives the same weights
    Xs = StandardScaler().fit(Xtr).transform(Xtr)
    refit, epochs, _ = _train_mlp(
        Xs, np.unique(ytr, return_inverse=True)[1], 3, hidden=params["hidden"],
        alpha=params["alpha"], seed=0, max_epochs=params["epochs"], patience=10,
        batch_size=probe.batch_size, learning_rate_init=probe.learning_rate_init,
    )
    assert epochs == params["epochs"]
    for w_probe, w_refit in zip(probe.model_.coefs_ + probe.model_.intercepts_,
                                refit.coefs_ + refit.intercepts_):
        np.testing.assert_array_equal(w_probe, w_refit)


def test_mlp_without_validation_uses_a_deterministic_internal_split():
    X, y = _blobs(300, 3, 8, 1.5, seed=9)
    a = MLPProbe(**SMALL_MLP).fit(X, y)
    b = MLPProbe(**SMALL_MLP).fit(X, y)
    assert len(a.val_scores_) == 1 and a.val_scores_ == b.val_scores_
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert classification_metrics(y, a.predict(X), a.classes_)["macro_f1"] > 0.9


def test_xgboost_grid_and_final_model_trained_on_train_only():
    from xgboost import XGBClassifier

    (Xtr, ytr), (Xva, yva), (Xte, _) = _split(*_blobs(600, 3, 8, 0.6, seed=10))
    probe = XGBoostProbe(max_depth_grid=(2, 3), n_estimators_grid=(10, 40)).fit(
        Xtr, ytr, Xva, yva
    )
    grid = [(v["max_depth"], v["n_estimators"]) for v in probe.val_scores_]
    assert grid == [(2, 10), (2, 40), (3, 10), (3, 40)]
    scores = [v["val_macro_f1"] for v in probe.val_scores_]
    best = grid[scores.index(max(scores))]  # first maximum: ties -> simpler model
    assert (probe.best_params_["max_depth"], probe.best_params_["n_estimators"]) == best
    # a fresh model with the chosen parameters, trained on train only, predicts the same
    y_enc = np.unique(ytr, return_inverse=True)[1]
    fresh = XGBClassifier(max_depth=best[0], n_estimators=best[1], learning_rate=0.1,
                          max_bin=32, tree_method="hist", random_state=0, n_jobs=1)
    fresh.fit(Xtr, y_enc, sample_weight=compute_sample_weight("balanced", y_enc))
    np.testing.assert_allclose(probe.predict_proba(Xte), fresh.predict_proba(Xte), rtol=1e-6)


def test_xgboost_without_validation_uses_first_grid_values():
    X, y = _blobs(200, 3, 4, 1.5, seed=11)
    probe = XGBoostProbe(n_estimators_grid=(30, 60)).fit(X, y)
    assert probe.best_params_ == {"max_depth": 2, "n_estimators": 30}
    assert probe.val_scores_ == []


# --- input checks and the registry -----------------------------------------------------------


@pytest.mark.parametrize("probe", _probes(), ids=PROBES)
def test_validation_input_checks(probe):
    X, y = _blobs(120, 2, 4, 1.0, seed=12)
    with pytest.raises(ValueError, match="both"):
        probe.fit(X, y, X_val=X)
    with pytest.raises(ValueError, match="features"):
        probe.fit(X, y, X[:, :3], y)
    with pytest.raises(ValueError, match="no label of y_val"):
        probe.fit(X, y, X[:5], ["unknown"] * 5)


def test_make_probe():
    assert PROBES == ("linear", "mlp", "xgboost")
    for name, cls in zip(PROBES, (LinearProbe, MLPProbe, XGBoostProbe)):
        probe = make_probe(name, 7)
        assert type(probe) is cls and probe.random_state == 7
    with pytest.raises(NeuronbenchError, match="linear, mlp, xgboost"):
        make_probe("knn", 0)


def test_the_probes_take_their_hyperparameters_from_the_protocol():
    from neuronbench.protocol import constants as c

    assert PROBES == c.PROBES
    assert LinearProbe().get_params()["C_grid"] == c.LINEAR_C_GRID and LinearProbe().tol == c.LINEAR_TOL
    mlp = MLPProbe()
    assert (mlp.hidden_grid, mlp.alpha_grid, mlp.max_epochs, mlp.patience) == (
        c.MLP_HIDDEN_GRID, c.MLP_ALPHA_GRID, c.MLP_MAX_EPOCHS, c.MLP_PATIENCE)
    xgb = XGBoostProbe()
    assert (xgb.max_depth_grid, xgb.n_estimators_grid, xgb.max_bin) == (
        c.XGB_MAX_DEPTH_GRID, c.XGB_N_ESTIMATORS_GRID, c.XGB_MAX_BIN)


def test_the_validation_score_is_the_protocols_macro_f1():
    """One macro-F1 implementation: on encoded labels (unseen validation classes are -1) it
    is scikit-learn's, to the bit, so the probes choose what they chose before."""
    from sklearn.metrics import f1_score

    from neuronbench.protocol.metrics import macro_f1

    rng = np.random.default_rng(0)
    for _ in range(200):
        k, n = int(rng.integers(2, 8)), int(rng.integers(1, 60))
        y_true, y_pred = rng.integers(-1, k, n), rng.integers(0, k, n)
        assert macro_f1(y_true, y_pred) == f1_score(y_true, y_pred, average="macro", zero_division=0.0)
