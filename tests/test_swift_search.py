"""The swift sampler in training, and the search: shared init, uniform first trial, storage and
resume, the card, transfer to another model, and the CLI."""

import csv
import dataclasses
import json
import shlex

import pytest
import torch

from swiftsampler.cli import main
from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.engine import train
from swiftsampler.engine.checkpoint import CHECKPOINT_VERSION
from swiftsampler.errors import ConfigError
from swiftsampler.samplers import EpochInfo, create_sampler
from swiftsampler.samplers._swift import SamplerFamily
from swiftsampler.search import SearchConfig, SwiftSearch
from swiftsampler.stats import SampleStats

from .fixtures import tiny_gpt_args, write_poem


def small(**changes):
    settings = dict(dataset="synthetic", model="mlp", width=32, epochs=4, batch_size=32,
                    noise=0.3)
    return RunConfig().replace(**{**settings, **changes})


def test_swift_sampler_is_uniform_during_warmup_then_follows_its_probabilities():
    n = 6
    stats = SampleStats(n)
    logits = torch.zeros(n, 2)
    stats.record(torch.arange(n), logits, torch.zeros(n, dtype=torch.long),
                 torch.arange(n, dtype=torch.float32), step=0)
    family = SamplerFamily(features=("loss",), n_knots=2)
    sampler = create_sampler("swift", n, params=[1.0, 0.0], features=["loss"], n_knots=2,
                             transform="cdf", warmup=0.5)
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # mid-rank cdf of distinct losses
    expected = family.probabilities(u.unsqueeze(1), [1.0, 0.0])
    assert torch.allclose(sampler.probabilities(stats), expected)
    g = torch.Generator().manual_seed(0)
    early = sampler.plan_epoch(stats, g, EpochInfo(0, 0.2, n)).indices
    assert sorted(early.tolist()) == list(range(n))  # uniform without replacement
    counts = torch.zeros(n)
    for _ in range(400):
        counts += torch.bincount(sampler.plan_epoch(stats, g, EpochInfo(3, 0.6, n)).indices,
                                 minlength=n)
    assert torch.allclose(counts / counts.sum(), expected.float(), atol=0.02)


def test_sampler_card_flag_validation():
    with pytest.raises(ConfigError, match="--sampler-card: is only for --sampler swift"):
        RunConfig().replace(sampler="uniform", sampler_card="x.json")


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("search")
    cfg = small()
    search = SearchConfig(n_trials=4, search_algo="random", inner_epochs=1.0, train_subset=0.5,
                          storage=str(out / "study.journal"))  # the subset inner loop
    runner = SwiftSearch(cfg, search, out)
    return cfg, search, out, runner, runner.run()


def test_search_writes_card_trials_and_starts_with_uniform(searched):
    cfg, search, out, runner, outcome = searched
    card = json.loads((out / "sampler.json").read_text())
    assert card["schema"] == "swiftsampler.sampler-card/1" and len(card["params"]) == 10
    trials = json.loads((out / "trials.json").read_text())["trials"]
    assert len(trials) == 4
    first = [v for k, v in trials[0].items() if k.startswith(("loss_", "entropy_"))]
    assert len(set(first)) == 1  # all knots equal: the uniform sampler
    assert card["provenance"]["value"] == max(t["val_acc"] for t in trials)
    assert card["provenance"]["value"] >= card["provenance"]["uniform_value"]
    assert (out / "trials.csv").read_text().startswith("trial,val_acc,best_so_far")
    assert (out / "init.pt").exists()


def test_trial_objective_is_deterministic_and_uses_validation_only(searched):
    cfg, search, out, runner, outcome = searched
    theta = SamplerFamily().uniform_params()
    a, b = runner.evaluate(theta), runner.evaluate(theta)
    assert a["val_acc"] == b["val_acc"] and a["val_loss"] == b["val_loss"]
    n_inner = runner.inner_size  # the stratified half of the training rows
    assert n_inner == round(0.5 * runner.data.train_y.shape[0])
    # one epoch of the subset at budget 1, each of the 3 rungs ending at the step that reaches it
    assert n_inner <= a["backward_samples"] < n_inner + search.rungs * cfg.optim.batch_size


def test_resume_adds_trials_to_the_stored_study(searched):
    cfg, search, out, runner, outcome = searched
    more = dataclasses.replace(search, n_trials=6)
    again = SwiftSearch(cfg, more, out).run(resume=True)
    assert len(again["trials"]) == 6
    assert [t["trial"] for t in again["trials"][:4]] == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="already holds a study"):
        SwiftSearch(cfg, more, out).run(resume=False)


def test_card_trains_and_transfers_to_another_model(searched):
    cfg, search, out, runner, outcome = searched
    data = prepare_data(cfg.data, cfg.data_seed)
    # searched with a 32-wide MLP, used on a 16-wide one: features are recomputed by the new model
    result = train(cfg.replace(sampler="swift", sampler_card=str(out / "sampler.json"), width=16),
                   data=data)
    assert result["config"]["sampler"]["sampler_card"].endswith("sampler.json")
    assert 0 <= result["noise"]["sampling_mass_on_noisy"] <= 1
    assert result["test_acc"] > 0.5


def test_search_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "ss"
    code = main(["search", "--dataset", "synthetic", "--model", "mlp", "--epochs", "3",
                 "--noise", "0.2", "--n-trials", "3", "--search-algo", "tpe", "--out", str(out),
                 "--progress", "off"])
    assert code == 0
    text = capsys.readouterr().out
    assert "sampler.json" in text and "uniform sampler" in text
    for name in ("sampler.json", "trials.csv", "convergence.png", "sampler.png"):
        assert (out / name).stat().st_size > 0
    best = json.loads((out / "sampler.json").read_text())["provenance"]["best_trial"]
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert max(rows, key=lambda r: float(r["val_acc"]))["trial"] == str(best)
    assert f"(trial {best}, numbered as in trials.csv)" in text
    assert "the TPE sampler never ran" in text  # 3 trials, all random start-up trials
    (command,) = [line.split("next", 1)[1].strip() for line in text.splitlines()
                  if line.strip().startswith("next")]
    words = shlex.split(command)
    assert words[:2] == ["swiftsampler", "train"]  # complete: it trains as printed
    assert main([*words[1:], "--progress", "off", "--out", str(tmp_path / "t")]) == 0
    trained = json.loads((tmp_path / "t" / "result.json").read_text())["config"]
    assert (trained["data"]["noise"], trained["budget"]["epochs"]) == (0.2, 3)


def test_bad_cards_and_settings_are_one_line_errors(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["train", "--dataset", "synthetic", "--sampler", "swift", "--sampler-card",
                 str(bad), "--out", str(tmp_path / "r"), "--progress", "off"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "JSON" in err
    assert main(["search", "--dataset", "synthetic", "--n-trials", "0", "--out",
                 str(tmp_path / "s")]) == 2
    assert "--n-trials" in capsys.readouterr().err


class _Marker:
    """Unpickling it would create a marker file (what a malicious ``init.pt`` could do)."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def _init_files(tmp_path):
    cfg = small(epochs=2).replace(sampler="uniform", sampler_params={}, sampler_card=None)
    marker, V = tmp_path / "MARKER", CHECKPOINT_VERSION
    return marker, {
        "runs code": lambda p: torch.save({"version": V, "config": cfg.to_dict(), "init_fraction": 0.2,
                                           "state": _Marker(marker), "cost": {}}, p),
        "truncated": lambda p: (torch.save({"version": V, "state": {"w": torch.ones(64)}}, p),
                                p.write_bytes(p.read_bytes()[:200])),
        "lacks parts": lambda p: torch.save({"version": V, "config": cfg.to_dict()}, p),
        "no training state": lambda p: torch.save({"version": V, "config": cfg.to_dict(),
                                                   "init_fraction": 0.2, "cost": {},
                                                   "state": {"model": {}}}, p),
    }


@pytest.mark.parametrize("kind, message", [
    ("runs code", "is refused as unsafe or corrupt"),
    ("truncated", "is unreadable"),
    ("lacks parts", "lacks init_fraction, state, cost"),
    ("no training state", "is not a training state for these settings"),
])
def test_an_unsafe_or_broken_init_pt_is_refused_in_one_line(tmp_path, capsys, kind, message):
    marker, writers = _init_files(tmp_path)
    out = tmp_path / "s"
    out.mkdir()
    writers[kind](out / "init.pt")
    before = (out / "init.pt").read_bytes()
    code = main(["search", "--dataset", "synthetic", "--model", "mlp", "--epochs", "2", "--noise", "0.3",
                 "--width", "32", "--batch-size", "32", "--n-trials", "2", "--out", str(out),
                 "--progress", "off"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "shared initialisation" in err and message in err and "delete it to recompute" in err
    assert not marker.exists()  # nothing in the file ran
    assert (out / "init.pt").read_bytes() == before and not (out / "sampler.json").exists()


def test_init_pt_holds_only_tensors_and_plain_values_and_is_reused(searched):
    cfg, search, out, runner, outcome = searched
    saved = torch.load(out / "init.pt", weights_only=True)  # no pickled objects at all
    assert saved["version"] == CHECKPOINT_VERSION and saved["init_fraction"] == search.init_fraction
    other = SwiftSearch(cfg, search, out, data=runner.data)
    state = other.shared_init()
    assert other.init_cost == runner.init_cost  # loaded, not trained again
    assert all(torch.equal(a, b) for a, b in zip(state["model"].values(),
                                                 runner.init_state["model"].values(), strict=True))


def test_a_second_writer_of_init_pt_loses_and_the_first_file_stays(tmp_path):
    from swiftsampler.engine import save_checkpoint

    path = save_checkpoint(tmp_path / "init.pt", {"state": {"w": torch.zeros(2)}}, overwrite=False)
    with pytest.raises(FileExistsError):
        save_checkpoint(path, {"state": {"w": torch.ones(2)}}, overwrite=False)
    assert torch.equal(torch.load(path, weights_only=True)["state"]["w"], torch.zeros(2))
    assert [p.name for p in tmp_path.iterdir()] == ["init.pt"]  # no temporary file left


def test_the_search_runs_on_any_objective_and_returns_its_best_card():
    from swiftsampler.search import search_sampler

    seen = []

    def objective(sampler):  # a known function of the parameters, no training
        theta = sampler.theta
        seen.append(theta.tolist())
        return {"score": float(-((theta - 0.8) ** 2).sum()), "size": sampler.num_samples}

    result = search_sampler(objective, 50, search=SearchConfig(n_trials=8, search_algo="random"),
                            seed=3, objective_name="score", provenance={"model": "mine"})
    assert len(result.trials) == 8 == len(seen)
    assert seen[0] == [0.5] * 10 and result.uniform_value == pytest.approx(-10 * 0.09)
    best = max(result.trials, key=lambda t: t["score"])
    assert result.best_value == best["score"] and result.card.params == seen[best["trial"]]
    assert result.card.provenance["objective"] == "score" and result.card.provenance["model"] == "mine"
    assert all(t["size"] == 50 for t in result.trials)
    again = search_sampler(objective, 50, search=SearchConfig(n_trials=8, search_algo="random"),
                           seed=3, objective_name="score")
    assert again.card.params == result.card.params  # the same seed, the same proposals


def test_a_card_used_in_another_setting_warns_with_what_differs(tmp_path, caplog):
    from swiftsampler.engine import Trainer
    from swiftsampler.samplers import SamplerCard, SamplerFamily

    family = SamplerFamily(features=("loss",), n_knots=2)
    searched = {"dataset": "synthetic", "task": "classification", "model": "cnn2d", "noise": 0.4,
                "noise_type": "asymmetric", "budget": 0.5}
    path = SamplerCard.create(family, [1.0, 0.2], transform="cdf", provenance=searched).save(
        tmp_path / "card.json")
    cfg = RunConfig().replace(dataset="synthetic", model="mlp", noise=0.2, sampler="swift",
                              sampler_card=str(path), epochs=1)
    with caplog.at_level("WARNING", logger="swiftsampler"):
        Trainer(cfg)
    (message,) = [r.getMessage() for r in caplog.records]
    assert "model cnn2d -> mlp" in message and "noise 0.4 -> 0.2" in message
    assert "noise_type asymmetric -> symmetric" in message and "budget 0.5 -> 1.0" in message
    assert "dataset" not in message and "task" not in message
    caplog.clear()
    here = {**searched, "model": "mlp", "noise": 0.2, "noise_type": "symmetric", "budget": 1.0}
    SamplerCard.create(family, [1.0, 0.2], transform="cdf", provenance=here).save(path)
    with caplog.at_level("WARNING", logger="swiftsampler"):
        Trainer(cfg)  # the setting it was searched in: no warning
    assert not caplog.records


def test_a_loss_objective_is_minimised_and_recorded():
    from swiftsampler.search import search_sampler

    def objective(sampler):
        # the uniform parameters (0.5) are the worst: a maximising search would keep them
        return {"val_loss": float(-((sampler.theta - 0.5) ** 2).sum()), "val_acc": 0.5}

    search = SearchConfig(n_trials=8, search_algo="random", objective="val_loss")
    result = search_sampler(objective, 50, search=search, seed=3)
    losses = [t["val_loss"] for t in result.trials]
    assert result.best_value == min(losses) < losses[0]  # the uniform trial is not the best here
    assert [t["best_so_far"] for t in result.trials] == [min(losses[:k + 1]) for k in range(8)]
    assert result.card.provenance["objective"] == "val_loss"
    assert result.card.params == [result.trials[losses.index(min(losses))][n]
                                  for n in search.family().param_names]
    with pytest.raises(ConfigError, match="--objective: must be auto or one of val_acc, val_loss"):
        SearchConfig(objective="loss")


def test_auto_objective_is_the_tasks_and_a_language_model_search_minimises_the_loss(tmp_path, capsys):
    """``auto`` reads the task: accuracy for classification, the loss in nats per token for a
    language model (the CLI's trial lines and summary say which)."""
    assert SwiftSearch(small(), SearchConfig(), tmp_path / "a").search.objective == "val_acc"
    path = write_poem(tmp_path / "poem.txt")
    out = tmp_path / "lm"
    assert main(["search", *tiny_gpt_args(path, width=16), "--epochs", "2", "--n-trials", "3",
                 "--search-algo", "random", "--no-plots", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    card = json.loads((out / "sampler.json").read_text())
    trials = json.loads((out / "trials.json").read_text())["trials"]
    complete = [t["val_loss"] for t in trials if t["state"] == "complete"]
    assert card["provenance"]["objective"] == "val_loss"
    assert card["provenance"]["value"] == min(complete)
    assert "objective  best validation loss" in captured.out and "nats/token" in captured.out
    assert "trial 2 of 3: val_loss" in captured.err  # the trial lines (stderr is no terminal)
