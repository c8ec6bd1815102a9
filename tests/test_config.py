"""Configuration: TOML loading, precedence, type checks and range validation."""

import pytest

from swiftsampler.config import RunConfig, from_dict, load_toml
from swiftsampler.errors import ConfigError


def test_defaults_validate_and_round_trip_through_a_dict():
    cfg = RunConfig()
    assert from_dict(cfg.to_dict()) == cfg


def test_toml_sections_and_top_level_keys(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(
        'seed = 3\n[data]\ndataset = "synthetic"\nnoise = 0.2\n'
        '[budget]\nbudget = 0.5\nepochs = 4\n[optim]\nmilestones = [0.3, 0.6]\n'
        '[sampler]\nsampler = "uniform"\n[sampler.sampler_params]\n'
    )
    cfg = load_toml(path)
    assert (cfg.seed, cfg.data.dataset, cfg.data.noise) == (3, "synthetic", 0.2)
    assert (cfg.budget.budget, cfg.budget.epochs) == (0.5, 4)
    assert cfg.optim.milestones == [0.3, 0.6]


def test_replace_with_flat_names_keeps_other_settings():
    cfg = RunConfig().replace(budget=0.3, lr=0.1, seed=2)
    assert (cfg.budget.budget, cfg.optim.lr, cfg.seed) == (0.3, 0.1, 2)
    assert cfg.data == RunConfig().data


@pytest.mark.parametrize("changes, flag", [
    ({"budget": 0.0}, "--budget"), ({"budget": 1.01}, "--budget"),
    ({"noise": 1.0}, "--noise"), ({"noise": -0.1}, "--noise"),
    ({"noise_type": "pairwise"}, "--noise-type"), ({"epochs": 0}, "--epochs"),
    ({"batch_size": 0}, "--batch-size"), ({"lr": float("nan")}, "--lr"),
    ({"val_ratio": 1.0}, "--val-ratio"), ({"budget_unit": "flops"}, "--budget-unit"),
])
def test_out_of_range_values_name_the_flag(changes, flag):
    with pytest.raises(ConfigError, match=flag):
        RunConfig().replace(**changes)


def test_unknown_keys_and_wrong_types_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting 'bugdet'"):
        from_dict({"bugdet": 0.3})
    with pytest.raises(ConfigError, match="unknown setting 'lr' in \\[data\\]"):
        from_dict({"data": {"lr": 0.1}})
    with pytest.raises(ConfigError, match="--epochs: expected int"):
        from_dict({"budget": {"epochs": 2.5}})
    with pytest.raises(ConfigError, match="--dataset: expected str"):
        from_dict({"data": {"dataset": 3}})


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("budget = [unclosed\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_toml(bad)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError):
        load_toml(binary)


def test_config_flags_give_the_config_back():
    from swiftsampler.cli import build_parser, config_from_args
    from swiftsampler.config import config_flags

    for cfg in (RunConfig(), RunConfig().replace(dataset="synthetic", noise=0.2, nesterov=False,
                                                 augment=["standard", "mixup"], milestones=[0.3, 0.6],
                                                 sampler_params={"beta": 2}, data_dir="/x y")):
        flags = config_flags(cfg)
        assert config_from_args(build_parser().parse_args(["train", *flags])) == cfg
    assert config_flags(RunConfig()) == []
