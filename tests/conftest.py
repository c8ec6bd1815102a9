"""Shared fixtures: every test gets its own dataset cache, so nothing is written outside tmp dirs."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("SWIFTSAMPLER_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


#: Parameters the registry-wide tests give a sampler that needs some (swift needs a card or its
#: knot values: here one that favours low losses and low renormed entropy).
SAMPLER_TEST_PARAMS = {"swift": {"params": [1.0, 0.8, 0.6, 0.4, 0.2, 1.0, 0.8, 0.6, 0.4, 0.2]},
                       # small clean batches: the look-ahead's passes are charged to the budget
                       "l2rw": {"clean_batch_size": 8}}


def sampler_test_params(name):
    return dict(SAMPLER_TEST_PARAMS.get(name, {}))


class _Stop(Exception):
    pass


def stopped_then_resumed(cfg, out_dir, stop_epoch=2):
    """Train ``cfg`` with checkpoints, stop it after ``stop_epoch`` epochs (as a crash would), resume
    it from the checkpoint and return the resumed result."""
    from swiftsampler.engine import train

    def stop(record):
        if record["epoch"] == stop_epoch:
            raise _Stop

    with pytest.raises(_Stop):
        train(cfg, out_dir=out_dir, callbacks=[stop])
    return train(cfg, out_dir=out_dir, resume=True)


def without_times(result):
    """A result's metrics: everything but the wall-clock timings."""
    history = [{k: v for k, v in r.items() if k != "time_s"} for r in result["history"]]
    return (result["test_acc"], result["test_loss"], result["val_acc"], result["cost"], history)


@pytest.fixture(autouse=True)
def _registries_restored():
    """A test that registers a plugin (a README example, a test sampler) leaves no trace: every
    registry holds the same entries after each test as before it."""
    from swiftsampler.registry import Registry

    registries = [obj for obj in _all_registries() if isinstance(obj, Registry)]
    saved = [(r, dict(r._entries)) for r in registries]
    yield
    for registry, entries in saved:
        registry._entries.clear()
        registry._entries.update(entries)


def _all_registries():
    import swiftsampler.augment as augment
    import swiftsampler.data.datasets as datasets
    import swiftsampler.data.text as text
    import swiftsampler.models.base as models
    import swiftsampler.optimizers as optimizers
    import swiftsampler.samplers._base as samplers
    import swiftsampler.samplers._swift.features as features
    import swiftsampler.samplers._swift.transforms as transforms
    import swiftsampler.schedules as schedules
    import swiftsampler.tasks as tasks

    return [augment.AUGMENTATIONS, datasets.DATASETS, text.TOKENIZERS, models.MODELS,
            optimizers.OPTIMIZERS, samplers.SAMPLERS, features.FEATURES, transforms.TRANSFORMS,
            schedules.SCHEDULES, tasks.TASKS]
