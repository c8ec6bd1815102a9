"""Tasks end to end: image folders streamed through DataLoader workers, WikiText-2 language modelling,
face verification, few-shot subsets and dataset parameters, from the CLI; plus the task formulas."""

from __future__ import annotations

import json
import math

import pytest
import torch

from swiftsampler.augment import Mixed
from swiftsampler.cli import main
from swiftsampler.config import DataConfig, RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.data.loader import Batch, DeviceLoader, StreamingLoader
from swiftsampler.engine import Trainer
from swiftsampler.stats import SampleStats
from swiftsampler.tasks import LanguageModelTask, Task, token_cross_entropy

from .fixtures import write_faces, write_image_folder, write_wikitext
from .test_file_datasets import make_cifar100


def _run(tmp_path, *args):
    out = tmp_path / "run"
    assert main(["train", *args, "--progress", "off", "--out", str(out)]) == 0
    return json.loads((out / "result.json").read_text())


def _one_line_error(capsys, args):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


# ------------------------------------------------------------------------------------ formulas

def test_token_cross_entropy_by_hand():
    logits = torch.tensor([[[0.0, math.log(3.0)], [0.0, 0.0]]])  # (B=1, T=2, V=2)
    targets = torch.tensor([[1, 0]])
    # position 0: p = 3/4 -> -log(3/4); position 1: p = 1/2 -> log 2; mean of the two
    expected = (-math.log(0.75) + math.log(2.0)) / 2
    assert token_cross_entropy(logits, targets).item() == pytest.approx(expected, rel=1e-6)
    flat = token_cross_entropy(logits[0], targets[0])  # (B, C) form: one loss per row
    assert flat.tolist() == pytest.approx([-math.log(0.75), math.log(2.0)], rel=1e-6)



def test_fused_cross_entropy_is_the_log_softmax_pick_bit_for_bit():
    """The (B, C) form is one fused op; its losses and gradients must be those of the explicit
    ``-log_softmax(z)[y]`` (the (B, T, C) form and earlier runs), bit for bit."""
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(64, 10, generator=g) * torch.tensor([0.1, 5.0, 40.0]).repeat(22)[:64, None])
    y = torch.randint(10, (64,), generator=g)
    fused, explicit = z.clone().requires_grad_(), z.clone().requires_grad_()
    a = token_cross_entropy(fused, y)
    b = -explicit.log_softmax(dim=-1).gather(-1, y.unsqueeze(-1)).squeeze(-1)
    assert torch.equal(a, b)
    (a * torch.arange(64.0)).mean().backward()
    (b * torch.arange(64.0)).mean().backward()
    assert torch.equal(fused.grad, explicit.grad)

def test_language_model_scores_perplexity_as_exp_of_the_token_loss():
    task = LanguageModelTask()
    batches = [Batch(torch.arange(2), torch.zeros(2, 3, dtype=torch.long),
                     torch.tensor([[0, 1, 2], [2, 2, 2]]))]
    logits = torch.randn(2, 3, 5, generator=torch.Generator().manual_seed(0))

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return logits

    scores = task.evaluate(Fixed(), batches)
    token_loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 5), batches[0].targets.reshape(-1))
    assert scores.loss == pytest.approx(token_loss.item(), rel=1e-6)
    assert scores.extra["ppl"] == pytest.approx(math.exp(token_loss.item()), rel=1e-6)
    hits = (logits.argmax(-1) == batches[0].targets).float().mean().item()
    assert scores.acc == pytest.approx(hits)


def test_sequence_statistics_are_means_over_positions():
    logits = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(1))
    targets = torch.randint(0, 6, (3, 4), generator=torch.Generator().manual_seed(2))
    losses = token_cross_entropy(logits, targets)
    stats = SampleStats(5)
    stats.record(torch.tensor([0, 2, 4]), logits, targets, losses, step=0)
    p = logits.softmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1).mean(1)
    assert torch.allclose(stats.p_mean[[0, 2, 4]], p, atol=1e-6)
    assert torch.allclose(stats.loss[[0, 2, 4]], losses)


def test_classification_part_losses_under_mixing():
    logits = torch.randn(2, 3, generator=torch.Generator().manual_seed(3))
    targets = torch.tensor([0, 2])
    mixed = Mixed(torch.zeros(2, 1), torch.tensor([[0, 1], [1, 0]]), torch.full((2, 2), 0.5))
    parts = Task().part_losses(logits, targets, mixed)
    ce = torch.nn.functional.cross_entropy
    assert parts[0, 1].item() == pytest.approx(ce(logits[:1], targets[1:]).item(), rel=1e-6)
    assert parts[1, 1].item() == pytest.approx(ce(logits[1:], targets[:1]).item(), rel=1e-6)


# ------------------------------------------------------------------------------ image folders

@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("imagefolder"))


def test_streaming_loader_gives_the_batches_of_the_device_loader(image_dir):
    data = prepare_data(DataConfig(dataset="imagefolder", data_dir=str(image_dir),
                                   dataset_params={"image_size": 12}), 0)
    assert data.streamed and data.input_shape == (3, 12, 12)
    plan = torch.randperm(len(data.train_y), generator=torch.Generator().manual_seed(0))
    weights = torch.rand(len(plan), generator=torch.Generator().manual_seed(1))
    device = DeviceLoader(data.train_x.materialize(), data.train_y)
    for workers in (0, 2):
        streaming = StreamingLoader(data.train_x, data.train_y, torch.device("cpu"), workers=workers)
        for a, b in zip(device.batches(plan, 10, weights), streaming.batches(plan, 10, weights),
                        strict=True):
            assert torch.equal(a.indices, b.indices) and torch.equal(a.targets, b.targets)
            assert torch.equal(a.inputs, b.inputs) and torch.equal(a.weights, b.weights)


def test_imagefolder_trains_with_a_sampler_and_workers_do_not_change_the_result(tmp_path, image_dir):
    args = ["--dataset", "imagefolder", "--data-dir", str(image_dir), "--dataset-param",
            "image_size=12", "--model", "cnn2d", "--width", "8", "--sampler", "p-sgd",
            "--augment", "standard", "--epochs", "6", "--batch-size", "8"]
    result = _run(tmp_path / "w2", *args, "--workers", "2")
    assert result["data"]["streamed"] and result["task"] == "classification"
    assert result["data"]["num_classes"] == 3 and result["data"]["num_test"] == 12
    assert result["test_acc"] >= 0.9  # colours: a real, learnable signal
    again = _run(tmp_path / "w0", *args, "--workers", "0")
    assert again["test_acc"] == result["test_acc"] and again["history"][-1]["train_loss"] == \
        result["history"][-1]["train_loss"]


def test_corrupt_image_is_one_line_error_from_a_worker(tmp_path, capsys):
    root = write_image_folder(tmp_path / "data", train_per_class=4, val_per_class=2)
    bad = root / "train" / "class_1" / "002.png"
    bad.write_bytes(b"not an image at all")
    out = tmp_path / "run"
    err = _one_line_error(capsys, ["train", "--dataset", "imagefolder", "--data-dir", str(root),
                                   "--dataset-param", "image_size=12", "--model", "cnn2d",
                                   "--epochs", "1", "--workers", "2", "--progress", "off",
                                   "--out", str(out)])
    assert "cannot decode image" in err and "002.png" in err, err
    assert not (out / "result.json").exists()


def test_imagefolder_missing_split_is_one_line_error(tmp_path, capsys):
    root = write_image_folder(tmp_path / "data", train_per_class=2, val_per_class=1)
    for path in sorted((root / "val").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "val").rmdir()
    err = _one_line_error(capsys, ["train", "--dataset", "imagefolder", "--data-dir", str(root),
                                   "--progress", "off", "--out", str(tmp_path / "run")])
    assert "DIR/val/<class>" in err, err


# ------------------------------------------------------------------------------- language model

def test_wikitext2_trains_a_gpt_and_reports_perplexity(tmp_path):
    root = write_wikitext(tmp_path / "wiki")
    result = _run(tmp_path, "--dataset", "wikitext2", "--data-dir", str(root), "--dataset-param",
                  "seq_len=32", "--model", "gpt-tiny", "--width", "64", "--optimizer", "adamw",
                  "--lr", "0.003", "--weight-decay", "0.1", "--sampler", "selective-backprop",
                  "--epochs", "5", "--batch-size", "32")
    assert result["task"] == "language-model" and result["data"]["input_shape"] == [32]
    assert result["test_ppl"] == pytest.approx(math.exp(result["test_loss"]), rel=1e-9)
    assert result["test_ppl"] < 40  # a uniform guess over 256 bytes has perplexity 256
    assert result["val_ppl"] == result["history"][-1]["val_ppl"]
    assert result["cost"]["forward_samples"] > result["cost"]["backward_samples"]  # SB scores first


def test_token_datasets_refuse_label_noise_and_shots(tmp_path, capsys):
    root = write_wikitext(tmp_path / "wiki", train_lines=40, test_lines=10)
    for extra in (["--noise", "0.2"], ["--shots", "3"]):
        err = _one_line_error(capsys, ["train", "--dataset", "wikitext2", "--data-dir", str(root),
                                       "--model", "gpt-tiny", *extra, "--progress", "off"])
        assert "has no class labels" in err, err


# --------------------------------------------------------------------------------- verification

def test_faces_trains_an_arcface_head_and_reports_verification_accuracy(tmp_path):
    root = write_faces(tmp_path / "faces")
    result = _run(tmp_path, "--dataset", "faces", "--data-dir", str(root), "--dataset-param",
                  "image_size=12", "--model", "cnn2d", "--width", "8", "--sampler",
                  "online-batch-selection", "--epochs", "10", "--batch-size", "16",
                  "--task-param", "embedding_dim=16", "--task-param", "margin=0.3")
    ver = result["verification"]
    assert result["task"] == "verification" and ver["pairs"] == 24 and ver["folds"] == 10
    assert result["test_acc"] == ver["accuracy"] >= 0.9
    assert result["test_loss"] is None and len(ver["thresholds"]) == 10
    assert result["val_acc"] > 1 / 6  # identity classification of held-out training images


def test_bad_task_parameter_is_one_line_error(tmp_path, capsys):
    root = write_faces(tmp_path / "faces", train_identities=2, per_identity=2, test_identities=2,
                       per_test_identity=2)
    err = _one_line_error(capsys, ["train", "--dataset", "faces", "--data-dir", str(root),
                                   "--task-param", "margin=3", "--progress", "off"])
    assert "margin" in err, err


# ------------------------------------------------------------------- shots and dataset params

def test_shots_keeps_at_most_k_per_class_from_the_training_part():
    cfg = DataConfig(dataset="synthetic", num_samples=400, shots=5)
    data = prepare_data(cfg, 3)
    counts = torch.bincount(data.train_y, minlength=4)
    assert counts.tolist() == [5, 5, 5, 5]
    full = prepare_data(DataConfig(dataset="synthetic", num_samples=400), 3)
    assert set(data.train_index.tolist()) <= set(full.train_index.tolist())  # val split unchanged
    assert torch.equal(data.val_y, full.val_y)
    assert not torch.equal(prepare_data(cfg, 4).train_index, data.train_index)  # seeded draw
    big = prepare_data(DataConfig(dataset="synthetic", num_samples=400, shots=1000), 3)
    assert torch.equal(big.train_index, full.train_index)


def test_shots_from_the_cli_trains_on_k_per_class(tmp_path):
    result = _run(tmp_path, "--dataset", "synthetic", "--model", "mlp", "--shots", "10",
                  "--sampler", "rs2", "--epochs", "2")
    assert result["data"]["num_train"] == 40 and result["config"]["data"]["shots"] == 10


def test_dataset_param_selects_cifar100_coarse_labels(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_cifar100(data_dir)
    result = _run(tmp_path, "--dataset", "cifar100", "--data-dir", str(data_dir),
                  "--dataset-param", "label_kind=coarse", "--model", "cnn2d", "--width", "8",
                  "--epochs", "1", "--batch-size", "16", "--sampler", "infobatch")
    assert result["data"]["num_classes"] == 20


@pytest.mark.parametrize("args, words", [
    (["--dataset", "mnist1d", "--dataset-param", "colour=red"], "colour"),
    (["--dataset", "mnist1d", "--data-dir", "somewhere"], "does not read files"),
    (["--shots", "-1"], "shots"),
])
def test_bad_data_options_are_one_line_errors(tmp_path, capsys, args, words):
    err = _one_line_error(capsys, ["train", *args, "--progress", "off",
                                   "--out", str(tmp_path / "run")])
    assert words in err, err


def test_trainer_exposes_the_task_scores(image_dir):
    cfg = RunConfig().replace(dataset="imagefolder", data_dir=str(image_dir),
                              dataset_params={"image_size": 12}, model="cnn2d", width=4, epochs=1,
                              workers=0)
    trainer = Trainer(cfg).train()
    scores = trainer.evaluate("test")
    result = trainer.result()
    assert (scores.loss, scores.acc) == (result["test_loss"], result["test_acc"])


def test_list_verbose_shows_dataset_parameters(capsys):
    assert main(["list", "--verbose"]) == 0
    out = capsys.readouterr().out
    block = out[out.index("  imagefolder"):]
    assert "image_size=224" in block.split("\n  faces")[0] and "seq_len=128" in out
    assert "optimizers:" in out and "adamw" in out


def test_streamed_training_leaves_the_global_rng_alone(image_dir):
    cfg = RunConfig().replace(dataset="imagefolder", data_dir=str(image_dir),
                              dataset_params={"image_size": 12}, model="cnn2d", width=4, epochs=1,
                              workers=0)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    Trainer(cfg).train().result()
    assert torch.equal(before, torch.get_rng_state())


@pytest.mark.parametrize("dataset, model, words", [
    ("wikitext2", "mlp", "cannot model token sequences; use gpt-tiny"),
    ("synthetic", "gpt-tiny", "reads token sequences"),
])
def test_token_models_and_token_data_go_together(tmp_path, capsys, dataset, model, words):
    root = write_wikitext(tmp_path / "wiki", train_lines=40, test_lines=10)
    data_dir = ["--data-dir", str(root)] if dataset == "wikitext2" else []
    err = _one_line_error(capsys, ["train", "--dataset", dataset, *data_dir, "--model", model,
                                   "--progress", "off", "--out", str(tmp_path / "run")])
    assert words in err, err


def test_resume_ignores_the_number_of_workers(tmp_path, image_dir):
    args = ["train", "--dataset", "imagefolder", "--data-dir", str(image_dir), "--dataset-param",
            "image_size=12", "--model", "cnn2d", "--width", "4", "--epochs", "2",
            "--checkpoint-every", "1", "--progress", "off", "--out", str(tmp_path / "run")]
    assert main([*args, "--workers", "2"]) == 0
    assert main([*args, "--workers", "0", "--resume"]) == 0
