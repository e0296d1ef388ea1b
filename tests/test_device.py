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
