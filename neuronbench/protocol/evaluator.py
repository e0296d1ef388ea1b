"""The `Evaluator`: the one authority on how a number is made and which record counts
(OGB's ``Evaluator`` in spirit). It holds the probes and probe seeds of an evaluation,
reads every other choice from `neuronbench.protocol.constants`, and answers the
questions the runner, ``score``, ``verify``, ``export`` and the reports ask: which
metrics, which is a task's main metric, how a fold is scored, which folds and points a
curve has, which budget a method's runs have, and whether an existing record already is
a run's result.

Light at import (no numpy, pandas, scikit-learn or torch): the probes are imported when
a fold is scored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import constants
from neuronbench.protocol.datasets import INDUCTIVE_SETTINGS
from neuronbench.protocol.record import Record, read_record, variant_suffix

if TYPE_CHECKING:
    import pandas as pd

    from neuronbench.plugin import MethodInfo
    from neuronbench.protocol.scoring import FoldPredictions
    from neuronbench.protocol.settings import Fold, Split
    from neuronbench.protocol.tasks import Task

__all__ = ["Evaluator"]


@dataclass(frozen=True)
class Evaluator:
    """The evaluation of a grid, a user's file or a recomputed record.

    Attributes:
        probes: the probes fitted on each fold (some of `constants.PROBES`).
        probe_seeds: the seeds of the stochastic probes; a deterministic probe runs with
            the first only (`constants.DETERMINISTIC_PROBES`).
    """

    probes: tuple[str, ...] = constants.PROBES
    probe_seeds: tuple[int, ...] = constants.PROBE_SEEDS

    metrics: ClassVar[tuple[str, ...]] = constants.METRICS
    encoder_seeds: ClassVar[tuple[int, ...]] = constants.ENCODER_SEEDS
    headline_probe: ClassVar[str] = constants.HEADLINE_PROBE

    def __post_init__(self) -> None:
        object.__setattr__(self, "probes", tuple(self.probes))
        object.__setattr__(self, "probe_seeds", tuple(int(s) for s in self.probe_seeds))
        for p in self.probes:
            if p not in constants.PROBES:
                raise NeuronbenchError(f"unknown probe {p!r}; choose from: {', '.join(constants.PROBES)}")
        if not self.probe_seeds:
            raise NeuronbenchError("probe seeds: expected at least one")

    # ------------------------------------------------------------ metrics

    @staticmethod
    def main_metric(task: Task) -> str:
        """The metric that ranks methods on ``task`` (its declared `Task.main_metric`)."""
        return task.main_metric

    @staticmethod
    def metric_name(metric: str, short: bool = False) -> str:
        """A metric's name for people: ``macro-F1``, ``accuracy (top-1)`` (``short``:
        ``accuracy``), ``balanced accuracy``."""
        names = constants.METRIC_SHORT if short else constants.METRIC_NAMES
        return names.get(metric, metric)

    # ------------------------------------------------------------ scoring

    @staticmethod
    def make_probe(name: str, seed: int) -> Any:
        """The probe ``name`` with the protocol's hyperparameters and ``seed``."""
        from neuronbench.probes import make_probe

        return make_probe(name, seed)

    def score_fold(self, embeddings: pd.DataFrame, labels: Mapping[str, str] | pd.Series, train: Sequence[str],
                   val: Sequence[str], test: Sequence[str], classes: Sequence[str],
                   probabilities: bool = True) -> dict[str, Any]:
        """Every probe of this evaluation on one fold (`neuronbench.protocol.scoring.score_fold`)."""
        from neuronbench.protocol.scoring import score_fold

        return score_fold(embeddings, labels, train, val, test, classes, self.probes, self.probe_seeds,
                          self.make_probe, probabilities=probabilities)

    @staticmethod
    def pooled_score(folds: Sequence[FoldPredictions], classes: Sequence[str],
                     where: Sequence[str] | None = None) -> dict[str, float]:
        """Every metric of the predictions pooled over ``folds``, averaged over probe seeds
        (`neuronbench.protocol.scoring.pooled_score`)."""
        from neuronbench.protocol.scoring import pooled_score

        return pooled_score(folds, classes, where)

    # ------------------------------------------------------------ curves

    @staticmethod
    def check_curve_options(label_fractions: Sequence[float], pretrain_animals: Sequence[int] | Literal["all"],
                            settings: Sequence[str]) -> None:
        """Refuse curve options that name no point: a label fraction outside (0, 1] or given
        twice, a pretraining count below 1 or given twice, or pretraining scale outside the
        inductive settings (``pretrain_animals`` ``()``: the headline only)."""
        fractions = list(label_fractions)
        if not fractions or any(isinstance(f, bool) or not 0 < f <= 1 for f in fractions):
            raise NeuronbenchError(f"label fractions: expected numbers in (0, 1], got {fractions}")
        if len({variant_suffix(f) for f in fractions}) < len(fractions):  # one record file per fraction
            raise NeuronbenchError(f"label fractions: a fraction is given twice in {fractions}")
        animals = pretrain_animals
        if animals == ():
            return
        if animals != "all" and (any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in animals)
                                 or len(set(animals)) < len(animals)):
            raise NeuronbenchError(f"pretraining animals: expected distinct counts >= 1 or 'all', got {animals!r}")
        others = [s for s in settings if s not in INDUCTIVE_SETTINGS]
        if others:
            raise NeuronbenchError(f"pretraining scale is measured in an inductive setting only "
                                   f"({', '.join(INDUCTIVE_SETTINGS)}; the others pretrain on every recording, test "
                                   f"animals included), not in {', '.join(others)}")

    @staticmethod
    def pretrain_points(asked: Sequence[int] | Literal["all"], fold: Fold, recordings: pd.DataFrame,
                        where: str) -> list[int | None]:
        """The pretraining animal counts of a fold's curve (None: all of them, the headline);
        a count above the fold's number of pretraining animals is an error."""
        from neuronbench.protocol.settings import pretrain_animal_order

        if asked == ():
            return [None]
        n = len(pretrain_animal_order(recordings, fold.pretrain))
        counts = list(range(1, n + 1)) if asked == "all" else list(asked)
        too_many = [k for k in counts if k > n]
        if too_many:
            raise NeuronbenchError(f"--pretrain-animals {too_many[0]}: {where} pretrains on {n} animal(s) only "
                                   f"(ask for 1 to {n}, or all)")
        return [None if k == n else k for k in counts]

    @staticmethod
    def curve_fold(fold: Fold, table: pd.DataFrame, recordings: pd.DataFrame, split_seed: int,
                   label_fraction: float = 1.0, pretrain_animals: int | None = None) -> Fold:
        """``fold`` as a curve point uses it: the probe trains on the labelled subset of its
        training neurons, the encoder pretrains on the first ``pretrain_animals`` animals'
        recordings (`label_subset`, `pretrain_subset`; ``table`` is the task's `task_table`,
        ``recordings`` the dataset's). The headline point gives ``fold`` itself."""
        from neuronbench.protocol.settings import label_subset, pretrain_subset

        train = fold.train if label_fraction == 1 else label_subset(table, fold.train, label_fraction, split_seed)
        pretrain = (fold.pretrain if pretrain_animals is None
                    else pretrain_subset(recordings, fold.pretrain, pretrain_animals, split_seed))
        return replace(fold, train=train, pretrain=pretrain)

    # ------------------------------------------------------------ training budget

    @staticmethod
    def run_budget(info: MethodInfo, budget: float) -> float | None:
        """The budget a run of ``info`` records when the grid asks for ``budget``: the budget
        for a method that declares one (`MethodInfo.budget_keys`), None for one without (a
        control), which runs at the headline budget only: any other budget is refused."""
        from neuronbench.plugin import check_budget

        check_budget(budget)
        if info.budget_keys:
            return float(budget)
        if budget != constants.HEADLINE_BUDGET:
            raise NeuronbenchError(f"--budget {budget:g}: {info.name} ({info.kind}) has no training budget "
                                   f"(it declares no budget_keys): run it without --budget")
        return None

    # ------------------------------------------------------------ record matching

    def matches(self, record: Record, split: Split, dataset_checksum: str, config_hash: str,
                budget: float | None = constants.HEADLINE_BUDGET) -> bool:
        """Whether ``record`` is the finished result of a run on ``split``, the data of
        ``dataset_checksum``, the method config of ``config_hash`` and the training
        ``budget`` (`run_budget`), holding every probe of this evaluation. A failed run
        never matches (it is retried)."""
        finished = record.status == "not_applicable" or (
            record.status == "ok" and set(self.probes) <= set(record.probes or ()))
        # a method without a training budget (budget None) runs at the headline budget only
        headline = constants.HEADLINE_BUDGET
        return (finished and record.setting == split.setting and record.split.checksum == split.checksum
                and record.dataset.checksum == dataset_checksum and record.method.config_hash == config_hash
                and (record.budget or headline) == (budget or headline))

    def is_done(self, path: Path, split: Split, dataset_checksum: str, config_hash: str,
                budget: float | None = constants.HEADLINE_BUDGET) -> bool:
        """Whether the record at ``path`` already is the run's result (`matches`); a missing
        or damaged record is not (it is redone)."""
        if not Path(path).is_file():
            return False
        try:
            record = read_record(path)
        except NeuronbenchError:
            return False
        return self.matches(record, split, dataset_checksum, config_hash, budget)
