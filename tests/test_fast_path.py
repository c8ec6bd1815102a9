"""The fast path on the CPU: bf16 / fp16 autocast (float32 losses and statistics, a gradient scaler
for fp16 that checkpoints), torch.compile and channels-last, each training cnn2d to a real accuracy."""

import json

import pytest
import torch

from swiftsampler.cli import main
from swiftsampler.config import RunConfig
from swiftsampler.engine import Trainer
from swiftsampler.engine.fast_path import FastModel
from swiftsampler.models import create_model

from .conftest import stopped_then_resumed, without_times
from .fixtures import write_idx_dataset


def _model(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return create_model("cnn2d", 10, (1, 28, 28), width=8).eval()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_runs_the_model_in_low_precision_and_returns_float32(precision):
    model, x = _model(), torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    fast = FastModel(model, torch.device("cpu"), precision=precision)
    seen = []
    handle = model.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    out = fast(x)
    handle.remove()
    assert seen == [{"bf16": torch.bfloat16, "fp16": torch.float16}[precision]]  # really low precision
    assert out.dtype == torch.float32
    reference = model(x)
    assert not torch.equal(out, reference)  # rounded ...
    assert torch.allclose(out, reference, atol=0.1, rtol=0.05)  # ... but the same function


def test_channels_last_stores_weights_and_batches_channels_last_and_computes_the_same():
    model, x = _model(), torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    reference = model(x)
    fast = FastModel(model, torch.device("cpu"), channels_last=True)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()
    assert torch.allclose(fast(x), reference, atol=1e-5)


def test_fp16_steps_through_a_gradient_scaler_that_skips_overflowing_steps():
    layer = torch.nn.Linear(3, 1)
    fast = FastModel(layer, torch.device("cpu"), precision="fp16")
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1)
    before = layer.weight.detach().clone()
    assert fast.scaler.get_scale() == 2.0 ** 16
    # d(loss)/d(weight) = 1 for one input of ones, times the scale 2^16, is past fp16's largest
    # value (65504): the step is skipped and the scale halved
    fast.step(fast(torch.ones(1, 3)).sum(), optimizer)
    assert torch.equal(layer.weight, before) and fast.scaler.get_scale() == 2.0 ** 15
    optimizer.zero_grad()
    fast.step(fast(torch.ones(1, 3)).sum(), optimizer)  # 2^15 fits: the unscaled step -lr * 1
    assert torch.allclose(layer.weight, before - 0.1)
    assert fast.scaler_state()["scale"] == 2.0 ** 15


def _cfg(data_dir, **changes):
    return RunConfig().replace(dataset="mnist", data_dir=str(data_dir), model="cnn2d", width=8,
                               epochs=5, batch_size=16, device="cpu", **changes)


@pytest.mark.parametrize("changes", [{"precision": "bf16"}, {"channels_last": True}],
                         ids=["bf16", "channels-last"])
def test_cnn2d_trains_to_a_real_accuracy_on_the_fast_path(tmp_path, changes):
    write_idx_dataset(tmp_path / "data", train=300, test=100)
    trainer = Trainer(_cfg(tmp_path / "data", sampler="p-sgd", **changes)).train()
    assert trainer.core.stats.loss.dtype == torch.float32  # statistics stay float32
    assert trainer.result()["test_acc"] >= 0.8  # chance is 0.1


def test_fp16_run_resumes_exactly_with_its_gradient_scaler(tmp_path):
    write_idx_dataset(tmp_path / "data", train=120, test=40)
    cfg = RunConfig().replace(dataset="mnist", data_dir=str(tmp_path / "data"), model="mlp",
                              width=16, epochs=4, batch_size=16, device="cpu", precision="fp16",
                              checkpoint_every=1)
    whole = Trainer(cfg).train().result()
    resumed = stopped_then_resumed(cfg, tmp_path / "run")
    assert without_times(resumed) == without_times(whole)
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert saved["state"]["grad_scaler"]["scale"] > 0


def test_cli_compile_trains_cnn2d(tmp_path):
    write_idx_dataset(tmp_path / "data", train=300, test=100)
    out = tmp_path / "run"
    assert main(["train", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--model",
                 "cnn2d", "--width", "8", "--epochs", "6", "--batch-size", "15", "--compile",
                 "--progress", "off", "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["config"]["compile"] is True
    assert result["test_acc"] >= 0.8, result["test_acc"]  # chance is 0.1
