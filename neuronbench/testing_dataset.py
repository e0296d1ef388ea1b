"""Dataset conformance: what a registered dataset must satisfy, beside `check_method`.

`check_dataset` opens the dataset (generating a simulated one, or reading a prepared
one) and runs every check of `CHECKS` on it, raising one `AssertionError` naming each
failed check and what was wrong::

    from neuronbench.testing import check_dataset
    from my_package.data import INFO

    def test_my_dataset_conforms(tmp_path):
        check_dataset(INFO, root=tmp_path)  # a recorded dataset: the folder it is prepared in
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from neuronbench.data.store import Dataset
from neuronbench.errors import NeuronbenchError
from neuronbench.protocol import datasets
from neuronbench.protocol.datasets import DatasetInfo
from neuronbench.protocol.settings import make_split
from neuronbench.protocol.tasks import task_table


def check_named_and_of_its_modality(info: DatasetInfo, ds: Dataset) -> None:
    assert ds.name == info.name, f"the dataset folder is named {ds.name!r} in its manifest, expected {info.name!r}"
    modalities = sorted(set(ds.recordings["modality"]))
    assert modalities == [info.modality], f"recordings of modality {modalities}, the info declares {info.modality!r}"


def check_recordings_are_canonical(info: DatasetInfo, ds: Dataset) -> None:
    """Every recording reads back and passes `Recording.validate`, with the fields the
    info declares available."""
    for rec_id in ds.recordings["recording"]:
        rec = ds.recording(rec_id).validate(where=str(ds.path))
        if "waveforms" in info.available:
            assert rec.waveforms is not None, f"recording {rec_id}: no waveforms, declared available"
        if "behaviour" in info.available:
            assert rec.behaviour is not None, f"recording {rec_id}: no behaviour, declared available"


def check_ids_are_namespaced(info: DatasetInfo, ds: Dataset) -> None:
    """Neuron ids are ``<dataset>/<recording>/<unit>``: global across datasets."""
    n = ds.neurons
    expected = [f"{info.name}/{r}/{u}" for r, u in zip(n["recording"], n["unit"])]
    wrong = [i for i, e in zip(n["neuron_id"], expected) if i != e]
    assert not wrong, f"neuron ids not of the form <dataset>/<recording>/<unit>, e.g. {wrong[:3]}"


def check_tasks_have_their_labels(info: DatasetInfo, ds: Dataset) -> None:
    """Each task's label column is there and holds 2+ of its classes."""
    for task in info.tasks:
        table = task_table(ds, task)
        present = sorted(set(table["label"]))
        assert len(present) >= 2, f"task {task.key}: labels of only {present} among its classes {list(task.classes)}"
    if info.labs is not None:
        assert info.labs in ds.labels.columns, f"field 'labs': no label column {info.labs!r}"


def check_published_split_is_in_the_data(info: DatasetInfo, ds: Dataset) -> None:
    """The published animals and recordings name animals and recordings of the data."""
    animals, recordings = set(ds.recordings["animal"].astype(str)), set(ds.recordings["recording"])
    for where, protocol in [("published", info.published), *[(f"task_protocols[{t!r}]", p)
                                                              for t, p in info.task_protocols.items()]]:
        for field, values, known in (("test_animals", protocol.test_animals, animals),
                                     ("eval_animals", protocol.eval_animals, animals),
                                     ("dev_recordings", protocol.dev_recordings, recordings)):
            unknown = sorted(set(values or ()) - known)
            assert not unknown, f"{where}.{field}: {unknown[:5]} not in the data"


def check_declared_settings_make_splits(info: DatasetInfo, ds: Dataset) -> None:
    """Every task makes a valid split in every setting the dataset supports."""
    for task in info.tasks:
        for setting in info.settings:
            make_split(ds, task, setting)


CHECKS: tuple[Callable[[DatasetInfo, Dataset], None], ...] = (
    check_named_and_of_its_modality,
    check_recordings_are_canonical,
    check_ids_are_namespaced,
    check_tasks_have_their_labels,
    check_published_split_is_in_the_data,
    check_declared_settings_make_splits,
)


def check_dataset(info: DatasetInfo, root: Path | None = None,
                  checks: Sequence[Callable[[DatasetInfo, Dataset], None]] = CHECKS) -> None:
    """Open the registered dataset of ``info`` from ``root`` (default: the data folder) and
    run every check of ``checks``; raise one AssertionError naming each that failed."""
    registered = datasets.all_datasets().get(info.name)
    if registered != info:
        raise AssertionError(f"dataset {info.name!r} is not registered with this info through the entry point "
                             f"group {datasets.ENTRY_POINT_GROUP!r} (registered: {registered!r})")
    try:
        ds = datasets.load_dataset(info.name, root)
    except NeuronbenchError as e:
        raise AssertionError(f"dataset {info.name!r} does not load: {e}") from None
    failures = []
    for check in checks:
        try:
            check(info, ds)
        except Exception as e:  # an AssertionError of a check, or an error the check did not foresee
            why = str(e) if isinstance(e, AssertionError) else f"raised {type(e).__name__}: {e}"
            failures.append(f"{check.__name__}: {why}")
    if failures:
        raise AssertionError(f"dataset {info.name!r} failed {len(failures)} of {len(checks)} conformance "
                             "checks:\n- " + "\n- ".join(failures))
