import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neuronbench.device import autocast, load_checkpoint, resolve_device, save_checkpoint, seed_everything  # noqa: E402
from neuronbench.errors import NeuronbenchError  # noqa: E402


def test_auto_is_cpu_without_a_gpu_and_cuda_is_refused():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(NeuronbenchError, match="CUDA is not available"):
        resolve_device("cuda")


def test_autocast_is_full_precision_on_cpu():
    with autocast(torch.device("cpu")):
        y = torch.ones(2, 2) @ torch.ones(2, 2)
    assert y.dtype == torch.float32


def test_checkpoint_roundtrip_loads_weights_only(tmp_path):
    seed_everything(3)
    layer = torch.nn.Linear(3, 2)
    save_checkpoint(tmp_path / "m.pt", {"d": 3}, layer.state_dict(), step=7)
    ckpt = load_checkpoint(tmp_path / "m.pt")
    assert ckpt["config"] == {"d": 3} and ckpt["step"] == 7 and "torch" in ckpt["versions"]
    assert torch.equal(ckpt["state_dict"]["weight"], layer.weight)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(NeuronbenchError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_seed_everything_repeats_draws():
    a = (seed_everything(5), torch.rand(3))[1]
    b = (seed_everything(5), torch.rand(3))[1]
    assert torch.equal(a, b)


@pytest.fixture(scope="module")
def tiny_recordings():
    from neuronbench.protocol.datasets import load_dataset

    return [r.without_labels() for r in load_dataset("synthetic-tiny").load()]


@pytest.mark.parametrize("name", ["nemo", "neuprint", "lolcat"])
def test_fit_does_not_depend_on_the_callers_threads(name, tiny_recordings):
    """In-process the caller has torch's default threads (the cores), a Dask worker has
    cores / workers: a fit runs with its config's ``threads`` either way, so the
    embedding is the same bit for bit (with torch's setting it was not, ~6e-8 apart)."""
    from neuronbench.registry import get_method

    info = get_method(name)
    config = info.config("tiny", device="cpu")
    assert config["threads"] == 1
    labels = None
    if info.supervised:
        from neuronbench.protocol.datasets import load_dataset

        ids = [i for r in tiny_recordings[:4] for i in r.neuron_ids]
        labels = load_dataset("synthetic-tiny").labels.set_index("neuron_id").loc[ids, "cell_class"]
    before = torch.get_num_threads()
    embeddings = []
    try:
        for caller_threads in (1, 2):
            torch.set_num_threads(caller_threads)
            model = info.build(config)
            if labels is None:
                model.fit(tiny_recordings[:4], seed=0)
            else:
                model.fit(tiny_recordings[:4], seed=0, labels=labels)
            embeddings.append(model.embed(tiny_recordings))
            assert torch.get_num_threads() == caller_threads  # restored
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(embeddings[0].to_numpy(), embeddings[1].to_numpy())
