"""The swift search's speed-ups (issue 18): pruning on intermediate reports, stratified inner
subsets, reference and warm-start trials, --jobs workers, and the cost in full-run units."""

import json

import pytest
import torch

from swiftsampler.cli import main
from swiftsampler.config import RunConfig
from swiftsampler.data import prepare_data
from swiftsampler.engine import Trainer
from swiftsampler.errors import ConfigError
from swiftsampler.samplers import SamplerCard
from swiftsampler.samplers._swift import SamplerFamily
from swiftsampler.search import SearchConfig, SwiftSearch
from swiftsampler.search.sampler_search import search_sampler
from swiftsampler.search.subset import final_val_rows, stratified_subset, subset_data, subset_state
from swiftsampler.search.warm import reference_params, warm_start_params

TINY = ["--dataset", "synthetic", "--model", "mlp", "--width", "16", "--epochs", "4",
        "--num-samples", "400", "--batch-size", "32", "--search-algo", "random", "--no-plots",
        "--progress", "off"]


def _toy(sampler, report):
    """Score = the mean of the loss knots, reported at steps 1, 2 (growing), then returned."""
    score = float(torch.as_tensor(sampler.theta[:5]).mean())
    for step in (1, 2):
        report(score * step / 3, step)
    return score


def test_a_poor_candidate_is_pruned_and_counts_as_a_trial():
    search = SearchConfig(n_trials=12, search_algo="random", pruner="successive-halving", rungs=3,
                          references=())
    result = search_sampler(_toy, num_samples=10, search=search, seed=0)
    states = [t["state"] for t in result.trials]
    assert len(result.trials) == 12  # pruned trials are among the n_trials
    assert states[0] == "complete" and result.trials[0]["origin"] == "uniform"  # never pruned
    pruned = [t for t in result.trials if t["state"] == "pruned"]
    assert pruned and all(t["pruned_at"] == 1 for t in pruned)
    # successive halving at rung 1 keeps only the top third so far: a pruned trial's step-1 score
    # (score / 3) is below the step-1 score of a trial before it
    for t in pruned:
        earlier = [u["val_acc"] if u["state"] == "pruned" else u["val_acc"] / 3
                   for u in result.trials if u["trial"] < t["trial"]]
        assert t["val_acc"] < max(earlier)
    assert result.card.provenance["pruned"] == len(pruned)
    best = max((t for t in result.trials if t["state"] == "complete"), key=lambda t: t["val_acc"])
    assert result.best_value == best["val_acc"]
    none = search_sampler(_toy, num_samples=10, seed=0,
                          search=SearchConfig(n_trials=12, search_algo="random", pruner="none",
                                              references=()))
    assert all(t["state"] == "complete" for t in none.trials)


def test_stratified_subset_keeps_each_class_share():
    labels = torch.tensor([0] * 10 + [1] * 20 + [2] * 31 + [3])
    rows = stratified_subset(labels, 0.5, torch.Generator().manual_seed(0))
    assert torch.bincount(labels[rows]).tolist() == [5, 10, 16, 1]  # round(0.5 n_c), at least 1
    assert rows.tolist() == sorted(set(rows.tolist()))
    again = stratified_subset(labels, 0.5, torch.Generator().manual_seed(0))
    other = stratified_subset(labels, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(rows, again) and not torch.equal(rows, other)
    assert stratified_subset(labels, 1.0, torch.Generator()).tolist() == list(range(62))


def test_subset_data_and_state_follow_the_rows():
    cfg = RunConfig().replace(dataset="synthetic", model="mlp", width=16, epochs=4, noise=0.3,
                              num_samples=400)
    data = prepare_data(cfg.data, cfg.data_seed)
    sub, rows = subset_data(data, 0.5, 0.3, seed=0)
    assert torch.equal(sub.train_y, data.train_y[rows])
    assert torch.equal(sub.train_noisy, data.train_noisy[rows])  # the noise mask follows its rows
    assert sub.val_y.shape[0] == pytest.approx(0.3 * data.val_y.shape[0], abs=len(data.val_y.unique()))
    assert torch.equal(sub.test_y, data.test_y)  # the test split is untouched
    trainer = Trainer(cfg, data=data).train(until=0.5)
    state = subset_state(trainer.state_dict(), rows, data.train_y.shape[0])
    assert torch.equal(state["core"]["stats"]["loss"], trainer.core.stats.loss[rows])
    inner = Trainer(cfg, data=sub)
    inner.load_state_dict(state)
    assert inner.core.meter.progress == pytest.approx(trainer.core.meter.progress, abs=1e-2)


def test_a_complete_trial_is_finally_scored_on_all_validation_rows(tmp_path, monkeypatch):
    cfg = RunConfig().replace(dataset="synthetic", model="mlp", width=16, epochs=4, batch_size=32,
                              noise=0.3, num_samples=400)
    data = prepare_data(cfg.data, cfg.data_seed)
    theta = SamplerFamily().uniform_params()

    scored: list[int] = []  # the rows of each validation pass
    evaluate = Trainer.evaluate

    def counting(trainer, split="val", *, loader=None):
        scored.append(len(getattr(trainer.loaders, split) if loader is None else loader))
        return evaluate(trainer, split, loader=loader)

    monkeypatch.setattr(Trainer, "evaluate", counting)

    def fine_tune(**settings):
        scored.clear()
        search = SearchConfig(n_trials=1, pruner="none", references=(), **settings)
        return SwiftSearch(cfg, search, tmp_path, data=data).evaluate(theta)  # one shared init.pt

    all_rows = fine_tune(val_subset=1.0)
    assert scored == [data.val_y.shape[0]] * 3  # 3 rungs (the shared initialisation scores nothing)
    rungs_on_subset = fine_tune(val_subset=0.3)  # final_val_subset=1 by default
    subset_rows = subset_data(data, 1.0, 0.3, cfg.data_seed)[0].val_y.shape[0]
    # the first two rungs on the subset, the last one skipped: the final pass on all rows follows
    assert scored == [subset_rows, subset_rows, data.val_y.shape[0]]
    # the same fine-tune (validation passes do not change training) scored on all rows
    assert rungs_on_subset["val_acc"] == all_rows["val_acc"]
    assert rungs_on_subset["val_loss"] == pytest.approx(all_rows["val_loss"], rel=1e-6)
    assert rungs_on_subset["backward_samples"] == all_rows["backward_samples"]
    fine_tune(val_subset=0.3, final_val_subset=0.3)
    assert scored == [subset_rows] * 3
    # a trial's passes in batches of at most trial_eval_batch rows: the same scores
    small_batches = fine_tune(val_subset=1.0, trial_eval_batch=7)
    assert small_batches["val_acc"] == all_rows["val_acc"]
    assert small_batches["val_loss"] == pytest.approx(all_rows["val_loss"], rel=1e-5)
    half = final_val_rows(data, 0.5, seed=0)
    counts, kept = torch.bincount(data.val_y), torch.bincount(half.val_y)
    assert kept.tolist() == [max(1, round(0.5 * int(c))) for c in counts]
    assert final_val_rows(data, 1.0, seed=0) is data
    with pytest.raises(ConfigError, match="--final-val-subset: must be in"):
        SearchConfig(final_val_subset=0.0)
    with pytest.raises(ConfigError, match="--trial-eval-batch: must be a positive integer"):
        SearchConfig(trial_eval_batch=0)


def test_training_can_stop_within_an_epoch():
    cfg = RunConfig().replace(dataset="synthetic", model="mlp", width=16, epochs=2, batch_size=32,
                              num_samples=400)
    trainer = Trainer(cfg).train(until=0.3, within_epoch=True)
    meter = trainer.core.meter
    assert 0.3 <= meter.progress < 0.3 + 32 / meter.total
    assert len(trainer.history) == 1  # the partial epoch is evaluated and logged
    trainer.train(until=0.3)
    assert len(trainer.history) == 1  # already there
    trainer.train(until=1.0)
    assert meter.exhausted


def test_reference_and_warm_start_trials_are_enqueued(tmp_path):
    family = SamplerFamily()
    names = family.param_names
    (ref_name, ref), = reference_params(SearchConfig())
    assert ref_name == "drop-loss" and ref["loss_4"] == 0.0 and ref["loss_0"] == 1.0
    assert ref["entropy_4"] == 1.0
    card_params = [0.9, 0.8, 0.7, 0.2, 0.1, 0.5, 0.5, 0.5, 0.5, 0.4]
    SamplerCard.create(family, card_params, transform="cdf").save(tmp_path / "sampler.json")
    search = SearchConfig(n_trials=4, search_algo="random", pruner="none",
                          warm_start=str(tmp_path / "sampler.json"))
    assert [origin for origin, _ in warm_start_params(search)] == ["drop-loss", "warm-start"]
    result = search_sampler(lambda s: float(s.theta[0]), num_samples=10, search=search, seed=0)
    rows = result.trials
    assert [r["origin"] for r in rows] == ["uniform", "drop-loss", "warm-start", "search"]
    assert [rows[1][n] for n in names] == [ref[n] for n in names]
    assert [rows[2][n] for n in names] == pytest.approx(card_params)
    # a search directory: its card and its best trials, no repeats
    (tmp_path / "trials.json").write_text(json.dumps({"trials": [
        {"val_acc": 0.9, **dict(zip(names, card_params))},
        {"val_acc": 0.8, **dict.fromkeys(names, 0.3)}, {"val_acc": 0.1, **dict.fromkeys(names, 0.2)},
        {"val_acc": 0.95, "state": "pruned", **dict.fromkeys(names, 0.6)}]}))
    warm = warm_start_params(SearchConfig(warm_start=str(tmp_path), references=()))
    assert [p["loss_0"] for _, p in warm] == [0.9, 0.3, 0.2]
    with pytest.raises(ConfigError, match="is not this search's"):
        warm_start_params(SearchConfig(warm_start=str(tmp_path), n_knots=3))


def _trial_results(out):
    trials = json.loads((out / "trials.json").read_text())["trials"]
    keys = [k for k in trials[0] if k.startswith(("loss_", "entropy_"))] + ["val_acc", "val_loss"]
    return sorted(tuple(t[k] for k in keys) for t in trials)


def test_two_jobs_give_the_trials_of_one_and_the_cost_is_printed_and_recorded(tmp_path, capsys):
    args = [*TINY, "--n-trials", "5", "--pruner", "none"]
    assert main(["search", *args, "--out", str(tmp_path / "one")]) == 0
    printed = capsys.readouterr().out
    assert main(["search", *args, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    capsys.readouterr()
    assert _trial_results(tmp_path / "one") == _trial_results(tmp_path / "two")
    card = json.loads((tmp_path / "one" / "sampler.json").read_text())
    cost = card["provenance"]["cost"]
    assert cost["full_runs"] == pytest.approx(cost["wall_s"] / cost["full_run_s"])
    assert cost["full_run_s"] == pytest.approx(cost["init_wall_s"] / 0.2)
    assert cost["full_run_source"] == "estimated from the shared initialisation"
    line = next(x for x in printed.splitlines() if x.strip().startswith("full runs"))
    assert f"{cost['full_runs']:.2f} x one uniform training run" in line
    assert all(cost[k] >= 0 for k in ("build_s", "eval_s", "propose_s"))


@pytest.mark.parametrize("name, kind", [("none", "NopPruner"), ("median", "MedianPruner"),
                                        ("successive-halving", "SuccessiveHalvingPruner"),
                                        ("hyperband", "HyperbandPruner")])
def test_each_pruner_name_builds_optunas_pruner(name, kind):
    from swiftsampler.search.study import make_pruner

    assert type(make_pruner(SearchConfig(pruner=name))).__name__ == kind
