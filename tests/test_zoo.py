"""tfspeech.zoo: preset round trips and every error path, on small models saved to a temporary root."""

import hashlib
import json
import os
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

import tfspeech.presets
from tfspeech import zoo

RECORD = {
    "data": {"description": "seeded random features", "fingerprint": "seed=0"},
    "training": {"command": "python -m pytest tests/test_zoo.py", "steps": 0},
    "metrics": {"mse": {"value": 0.5, "command": "python -m tfspeech.eval mse"}},
}


@keras.saving.register_keras_serializable(package="tfspeech_test_zoo")
class TinyNet(keras.Model):
    """(batch, features) -> (batch, 2); compiled with mse for fine-tuning."""

    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.hidden = keras.layers.Dense(units, activation="tanh")
        self.out = keras.layers.Dense(2)

    def call(self, x):
        return self.out(self.hidden(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    def default_compile_args(self):
        return {"optimizer": "adam", "loss": "mse"}


@keras.saving.register_keras_serializable(package="tfspeech_test_zoo")
class HookedNet(keras.Model):
    """Builds itself through ``build_from_preset`` (no compile defaults)."""

    builds_from_preset = 0

    def __init__(self, features=5, **kwargs):
        super().__init__(**kwargs)
        self.features = features
        self.dense = keras.layers.Dense(3)

    def call(self, x):
        return self.dense(x)

    def get_config(self):
        return {**super().get_config(), "features": self.features}

    def build_from_preset(self):
        type(self).builds_from_preset += 1
        self(np.zeros((1, self.features), "float32"))


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.delenv(zoo.ZOO_PATH_ENV, raising=False)
    return tmp_path / "zoo"


@pytest.fixture
def features():
    return np.random.default_rng(0).standard_normal((4, 5)).astype("float32")


def tiny_net(features, units=8, seed=0):
    keras.utils.set_random_seed(seed)
    model = TinyNet(units=units)
    model(features)
    return model


def test_round_trip_gives_identical_outputs_and_a_compiled_model(root, features):
    model = tiny_net(features)
    folder = zoo.save_preset(model, "tiny-net", root=root, **RECORD)

    loaded = zoo.load("tiny-net", root=root)

    assert type(loaded) is TinyNet and loaded.units == 8
    np.testing.assert_array_equal(loaded(features), model(features))
    assert loaded.compiled and loaded.loss == "mse"
    loaded.fit(features, np.zeros((4, 2), "float32"), epochs=1, verbose=0)
    preset = json.loads((folder / zoo.PRESET_FILE).read_text())
    assert set(preset) >= {"name", "class", "config", "weights", "data", "training", "metrics"}
    assert preset["class"] == "tfspeech_test_zoo>TinyNet"
    weights = folder / preset["weights"]["file"]
    assert preset["weights"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_a_trained_model_is_saved_without_its_optimizer_state(root, features):
    trained = tiny_net(features)
    trained.compile(**trained.default_compile_args())
    trained.fit(features, np.ones((4, 2), "float32"), epochs=2, verbose=0)
    assert trained.optimizer.variables
    weights = zoo.save_preset(trained, "trained", root=root, **RECORD) / zoo.WEIGHTS_FILE
    plain = zoo.save_preset(tiny_net(features), "plain", root=root, **RECORD) / zoo.WEIGHTS_FILE
    with h5py.File(weights) as saved:
        assert "optimizer" not in saved
    assert weights.stat().st_size == plain.stat().st_size
    np.testing.assert_array_equal(zoo.load("trained", root=root)(features), trained(features))


def test_expect_refuses_a_preset_of_another_class(root, features):
    zoo.save_preset(tiny_net(features), "tiny-net", root=root, **RECORD)
    assert type(zoo.load("tiny-net", root=root, expect=(HookedNet, TinyNet))) is TinyNet
    with pytest.raises(zoo.PresetError, match="preset 'tiny-net' is a TinyNet; this needs a HookedNet preset"):
        zoo.load("tiny-net", root=root, expect=HookedNet)


def test_build_from_preset_hook_builds_and_no_defaults_means_uncompiled(root, features):
    keras.utils.set_random_seed(1)
    model = HookedNet()
    model(features)
    zoo.save_preset(model, "hooked", root=root, **RECORD)
    before = HookedNet.builds_from_preset

    loaded = zoo.load("hooked", root=root)

    assert HookedNet.builds_from_preset == before + 1
    np.testing.assert_array_equal(loaded(features), model(features))
    assert not loaded.compiled


def test_list_and_info_with_generated_and_given_cards(root, features):
    zoo.save_preset(tiny_net(features), "b-net", root=root, **RECORD)
    zoo.save_preset(tiny_net(features), "a-net", root=root, card="# A\nhand written\n", **RECORD)

    assert zoo.list(root=root) == ["a-net", "b-net"]
    generated = zoo.info("b-net", root=root)
    assert generated["metrics"] == RECORD["metrics"]
    assert generated["path"] == str(root / "b-net")
    for text in ("tfspeech_test_zoo>TinyNet", "0.5", "python -m tfspeech.eval mse", RECORD["training"]["command"]):
        assert text in generated["card"]
    assert zoo.info("a-net", root=root)["card"] == "# A\nhand written\n"


def test_zoo_path_env_orders_roots_and_shipped_presets_come_last(tmp_path, monkeypatch, features):
    first, second = tmp_path / "first", tmp_path / "second"
    zoo.save_preset(tiny_net(features, units=3), "shared", root=first, **RECORD)
    zoo.save_preset(tiny_net(features, units=6), "shared", root=second, **RECORD)
    zoo.save_preset(tiny_net(features), "only-second", root=second, **RECORD)
    monkeypatch.setenv(zoo.ZOO_PATH_ENV, f"{first}{os.pathsep}{second}")

    assert {"shared", "only-second"} <= set(zoo.list())
    assert zoo.load("shared").units == 3
    assert zoo.roots()[:2] == [first, second]
    shipped = zoo.roots()[-1]
    assert shipped == Path(tfspeech.presets.__file__).parent
    assert (shipped / "__init__.py").is_file()


def test_unknown_name_lists_presets_and_the_closest_match(root, features):
    zoo.save_preset(tiny_net(features), "tiny-net", root=root, **RECORD)
    zoo.save_preset(tiny_net(features), "other", root=root, **RECORD)

    with pytest.raises(zoo.PresetNotFoundError) as error:
        zoo.load("tiny-nte", root=root)

    message = str(error.value)
    assert "Did you mean 'tiny-net'?" in message
    assert "other, tiny-net" in message


def test_checksum_mismatch_names_file_both_digests_and_the_fix(root, features):
    folder = zoo.save_preset(tiny_net(features), "tiny-net", root=root, **RECORD)
    weights = folder / zoo.WEIGHTS_FILE
    expected = hashlib.sha256(weights.read_bytes()).hexdigest()
    with open(weights, "ab") as f:
        f.write(b"\0")
    actual = hashlib.sha256(weights.read_bytes()).hexdigest()

    with pytest.raises(zoo.ChecksumError) as error:
        zoo.load("tiny-net", root=root)

    message = str(error.value)
    assert str(weights) in message and expected in message and actual in message
    assert "save_preset" in message
    assert "git" not in message  # a folder of the user's own is no git checkout: no git advice


def test_missing_weights_and_broken_preset_json_are_named(root, features):
    folder = zoo.save_preset(tiny_net(features), "tiny-net", root=root, **RECORD)
    (folder / zoo.WEIGHTS_FILE).unlink()
    with pytest.raises(zoo.PresetError, match="model.weights.h5 is missing"):
        zoo.load("tiny-net", root=root)

    (folder / zoo.PRESET_FILE).write_text("{not json")
    with pytest.raises(zoo.PresetError, match="preset.json is not valid JSON"):
        zoo.info("tiny-net", root=root)


def test_unregistered_class_says_which_module_to_import(root, features):
    folder = zoo.save_preset(tiny_net(features), "tiny-net", root=root, **RECORD)
    path = folder / zoo.PRESET_FILE
    preset = json.loads(path.read_text())
    preset.update({"class": "somewhere>Gone", "module": "somewhere.models"})
    path.write_text(json.dumps(preset))

    with pytest.raises(zoo.PresetError, match=r"'somewhere>Gone' is not registered.*`import somewhere.models`"):
        zoo.load("tiny-net", root=root)


def test_weights_that_do_not_fit_the_class_are_explained(root, features):
    folder = zoo.save_preset(tiny_net(features), "tiny-net", root=root, **RECORD)
    path = folder / zoo.PRESET_FILE
    preset = json.loads(path.read_text())
    preset["config"]["units"] = 4
    path.write_text(json.dumps(preset))

    with pytest.raises(zoo.PresetError, match="does not fit the model"):
        zoo.load("tiny-net", root=root)


def test_save_refuses_unregistered_unbuilt_oversized_and_incomplete(root, features):
    sequential = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    with pytest.raises(zoo.PresetError, match="not a registered Keras class"):
        zoo.save_preset(sequential, "seq", root=root, **RECORD)
    with pytest.raises(zoo.PresetError, match="not built"):
        zoo.save_preset(TinyNet(), "unbuilt", root=root, **RECORD)
    big = TinyNet(units=2000)
    big(np.zeros((1, 2000), "float32"))  # 2000 x 2000 float32 kernel: 16 MB
    with pytest.raises(zoo.PresetError, match=r"16\.0 MB.*at most 15 MB"):
        zoo.save_preset(big, "big", root=root, **RECORD)
    incomplete = {"data": {}, "training": {}, "metrics": {"mse": 0.5}}
    with pytest.raises(ValueError, match="fingerprint.*command.*'mse' needs"):
        zoo.save_preset(tiny_net(features), "incomplete", root=root, **incomplete)
    with pytest.raises(ValueError, match="preset name"):
        zoo.save_preset(tiny_net(features), "../escape", root=root, **RECORD)
    assert zoo.list(root=root) == []


def test_save_refuses_to_overwrite_unless_asked(root, features):
    zoo.save_preset(tiny_net(features, seed=0), "tiny-net", root=root, **RECORD)
    retrained = tiny_net(features, seed=1)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        zoo.save_preset(retrained, "tiny-net", root=root, **RECORD)

    zoo.save_preset(retrained, "tiny-net", root=root, overwrite=True, **RECORD)

    np.testing.assert_array_equal(zoo.load("tiny-net", root=root)(features), retrained(features))
    assert sorted(p.name for p in root.iterdir()) == ["tiny-net"]


def test_headline_is_named_by_the_preset_else_the_first_figure_that_is_not_a_count(root, features):
    metrics = {"utterances": {"value": 162, "command": "c"}, "mse": {"value": 0.3, "command": "c"},
               "cer": {"value": 0.2, "command": "c"}}
    assert zoo.headline({"metrics": metrics}) == {"mse": 0.3}
    assert zoo.headline({"metrics": metrics, "headline": ["cer", "mse"]}) == {"cer": 0.2, "mse": 0.3}
    assert zoo.headline({"metrics": {}}) == {}
    record = {**RECORD, "metrics": metrics}
    zoo.save_preset(tiny_net(features), "tiny-net", root=root, headline=["cer"], **record)
    assert zoo.headline(zoo.info("tiny-net", root=root)) == {"cer": 0.2}
    with pytest.raises(ValueError, match="headline"):
        zoo.save_preset(tiny_net(features), "other", root=root, headline=["wer"], **record)


def test_every_shipped_preset_names_a_headline_quality_figure():
    for entry in zoo.catalog():
        assert entry.error is None, entry.error
        figures = zoo.headline(entry.preset)
        assert entry.preset.get("headline") and set(figures) == set(entry.preset["headline"]), entry.name
        assert all(isinstance(v, float) or abs(v) <= 1 for v in figures.values()), (entry.name, figures)


def test_catalog_lists_broken_presets_and_what_shadows_what(tmp_path, monkeypatch, features):
    user = tmp_path / "user"
    zoo.save_preset(tiny_net(features), "gmm-digits", root=user, **RECORD)
    (user / "broken").mkdir()
    (user / "broken" / zoo.PRESET_FILE).write_text("[1, 2]")
    monkeypatch.setenv(zoo.ZOO_PATH_ENV, str(user))
    entries = {entry.name: entry for entry in zoo.catalog()}
    assert "JSON list, not an object" in entries["broken"].error and entries["broken"].preset is None
    assert entries["gmm-digits"].folder == user / "gmm-digits"
    assert entries["gmm-digits"].shadows == (Path(str(tfspeech.presets.__path__[0])) / "gmm-digits",)
    assert "broken" in zoo.list()  # list names every folder; info/load raise the clear error
    with pytest.raises(zoo.PresetError, match="not an object"):
        zoo.info("broken")


def test_restore_hints_fit_where_the_preset_lives(tmp_path, monkeypatch):
    shipped = Path(str(tfspeech.presets.__path__[0])) / "gmm-digits" / zoo.WEIGHTS_FILE
    if (shipped.parent.parent.parent / ".git").exists():
        assert "checkout -- zoo/gmm-digits/model.weights.h5" in zoo._restore_hint(shipped)
    monkeypatch.setattr(zoo.importlib.resources, "files", lambda package: tmp_path / "site-packages" / "presets")
    installed = tmp_path / "site-packages" / "presets" / "gmm-digits" / zoo.WEIGHTS_FILE
    assert "pip install --force-reinstall" in zoo._restore_hint(installed)
    assert "git" not in zoo._restore_hint(installed)
    assert "re-save" in zoo._restore_hint(tmp_path / "mine" / "x" / zoo.WEIGHTS_FILE)
