"""tfspeech.export and export/litert_runner.py on small models built here.

A Conv/Dense stack (Functional, dynamic batch) covers every quantization mode; a
subclassed decoder whose ``tf.while_loop`` reads its Dense kernel proves the freeze path
(unfrozen, LiteRT fails on READ_VARIABLE inside WHILE); a cumprod model needs Flex.
"""

import subprocess
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfspeech import export

RUNNER = Path(__file__).resolve().parent.parent / "export" / "litert_runner.py"


@keras.saving.register_keras_serializable(package="tfspeech_test_export")
class LoopDecoder(keras.Model):
    """(batch, 4) -> (batch, steps, units): ``state = tanh(W [state, x])`` written into a fixed-size buffer."""

    def __init__(self, units=8, steps=12, **kwargs):
        super().__init__(**kwargs)
        self.units, self.steps = units, steps
        self.cell = keras.layers.Dense(units, activation="tanh")

    def step(self, state, x):
        return self.cell(tf.concat([state, x], axis=-1))

    def call(self, x):
        batch = tf.shape(x)[0]

        def body(t, state, buffer):
            state = self.step(state, x)
            return t + 1, state, tf.tensor_scatter_nd_update(buffer, [[t]], state[None])

        start = (0, tf.zeros([batch, self.units]), tf.zeros([self.steps, batch, self.units]))
        _, _, buffer = tf.while_loop(lambda t, *_: t < self.steps, body, start)
        return tf.transpose(buffer, [1, 0, 2])

    def get_config(self):
        return {**super().get_config(), "units": self.units, "steps": self.steps}

    def export_signatures(self):
        x = tf.TensorSpec([1, 4], tf.float32, name="x")
        state = tf.TensorSpec([1, self.units], tf.float32, name="state")
        return {
            "decode": tf.function(lambda x: {"frames": self(x)}, input_signature=[x]),
            "step": tf.function(lambda s, x: {"state": self.step(s, x)}, input_signature=[state, x]),
        }


class CalibratedNet(keras.Model):
    """(batch, 32) -> (batch, 3); brings its own export signature and calibration samples."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(64, activation="relu")
        self.out = keras.layers.Dense(3)

    def call(self, x):
        return self.out(self.hidden(x))

    def export_signatures(self):
        return {"serving_default": tf.function(self.call, input_signature=[tf.TensorSpec([None, 32], name="x")])}

    def representative_data(self):
        rng = np.random.default_rng(2)
        return [rng.uniform(-1, 1, (4, 32)).astype("float32") for _ in range(8)]


class CumprodNet(keras.Model):
    """Needs tf.math.cumprod, which TFLite has only as a Flex op."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(4)

    def call(self, x):
        return tf.math.cumprod(self.dense(x), axis=-1)


CUMPROD_SIGNATURE = [tf.TensorSpec([None, 3], tf.float32, name="x")]


@pytest.fixture(scope="module")
def conv_stack():
    """(batch, 16, 8) -> (batch, 4); kernels of >= 1024 weights so quantization applies."""
    keras.utils.set_random_seed(0)
    frames = keras.Input((16, 8), name="frames")
    h = keras.layers.Conv1D(64, 3, padding="same", activation="relu")(frames)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(frames, keras.layers.Dense(4)(h))


@pytest.fixture(scope="module")
def decoder():
    keras.utils.set_random_seed(0)
    model = LoopDecoder()
    model(np.zeros((1, 4), "float32"))
    return model


@pytest.fixture(scope="module")
def calibration():
    rng = np.random.default_rng(1)
    return [rng.standard_normal((2, 16, 8)).astype("float32") for _ in range(16)]


@pytest.fixture(scope="module")
def float32_tflite(conv_stack, tmp_path_factory):
    return export.tflite(conv_stack, tmp_path_factory.mktemp("f32") / "conv.tflite")


def runner_class():
    return export._runner_class()


def test_tflite_float32_matches_keras_and_runs_any_batch(conv_stack, float32_tflite):
    report = float32_tflite
    assert report.passed and report.checked
    assert report.tolerance == export.DEFAULT_TOLERANCES[None]
    assert 0 <= report.max_abs_error["serving_default/output_0"] < 1e-4
    assert report.size_bytes == report.path.stat().st_size
    assert "serving_default  output_0" in str(report) and "parity: passed" in str(report)

    runner = runner_class()(report.path)
    assert [i.name for i in runner.inputs] == ["frames"] and runner.inputs[0].shape == (-1, 16, 8)
    x = np.random.default_rng(7).standard_normal((5, 16, 8)).astype("float32")
    (y,) = runner(x)
    np.testing.assert_allclose(y, conv_stack(x).numpy(), atol=1e-5)


@pytest.mark.parametrize("mode, max_size_ratio", [("float16", 0.6), ("dynamic", 0.5), ("int8", 0.5)])
def test_tflite_quantized_modes_pass_their_tolerance_and_shrink(
    conv_stack, calibration, float32_tflite, tmp_path, mode, max_size_ratio
):
    data = calibration if mode == "int8" else None
    report = export.tflite(conv_stack, tmp_path / f"{mode}.tflite", quantize=mode, representative_data=data)

    print(report)
    assert report.passed and report.quantize == mode
    assert report.tolerance == export.DEFAULT_TOLERANCES[mode]
    error = report.max_abs_error["serving_default/output_0"]
    assert 0 < error <= report.outputs[0].bound
    assert report.size_bytes < max_size_ratio * float32_tflite.size_bytes


def test_int8_with_integer_io_quantizes_in_the_runner(conv_stack, calibration, tmp_path):
    report = export.tflite(conv_stack, tmp_path / "int8io.tflite", "int8", calibration, integer_io=True)

    assert report.passed
    runner = runner_class()(report.path)
    assert runner.inputs[0].dtype == np.int8 and runner.inputs[0].quantized
    assert runner.outputs[0].dtype == np.int8
    (y,) = runner(calibration[0])
    assert y.dtype == np.float32


def test_int8_calibrates_on_the_models_own_representative_data(tmp_path):
    keras.utils.set_random_seed(0)
    model = CalibratedNet()
    model(np.zeros((1, 32), "float32"))

    report = export.tflite(model, tmp_path / "calibrated.tflite", quantize="int8")

    assert report.passed and 0 < report.max_abs_error["serving_default/output_0"]


def test_parity_beyond_tolerance_is_an_error_and_keeps_the_file(conv_stack, tmp_path):
    path = tmp_path / "strict.tflite"
    with pytest.raises(export.ParityError) as error:
        export.tflite(conv_stack, path, quantize="float16", tolerance=export.Tolerance(atol=0.0, rtol=0.0))

    assert path.is_file() and str(path) in str(error.value)
    assert not error.value.report.passed and "FAIL" in str(error.value)


def test_bad_quantize_arguments_are_refused(conv_stack, tmp_path):
    with pytest.raises(ValueError, match="representative_data"):
        export.tflite(conv_stack, tmp_path / "m.tflite", quantize="int8")
    with pytest.raises(ValueError, match="choose one of"):
        export.tflite(conv_stack, tmp_path / "m.tflite", quantize="int4")
    with pytest.raises(ValueError, match="input 'frames'.*shape"):
        export.tflite(conv_stack, tmp_path / "m.tflite", representative_data=[np.zeros((2, 15, 8))])


def test_while_loop_decoder_converts_frozen_with_both_signatures(decoder, tmp_path):
    report = export.tflite(decoder, tmp_path / "decoder.tflite")

    assert report.passed
    assert set(report.max_abs_error) == {"decode/frames", "step/state"}
    runner = runner_class()(report.path)
    assert runner.signature_names == ["decode", "step"]
    x = np.full((1, 4), 0.5, "float32")
    frames = runner.run_signature("decode", x=x)["frames"]
    np.testing.assert_allclose(frames, decoder(x).numpy(), atol=1e-5)
    state = runner.run_signature("step", state=frames[:, 3], x=x)["state"]
    np.testing.assert_allclose(state, frames[:, 4], atol=1e-5)


def test_saved_model_serving_layout_signatures_and_parity(conv_stack, decoder, tmp_path):
    first = export.saved_model(conv_stack, tmp_path / "conv")
    second = export.saved_model(conv_stack, tmp_path / "conv")
    assert (first.path.name, second.path.name) == ("1", "2") and first.passed

    loaded = tf.saved_model.load(str(first.path))
    x = np.random.default_rng(3).standard_normal((3, 16, 8)).astype("float32")
    served = loaded.signatures["serving_default"](frames=tf.constant(x))["output_0"]
    np.testing.assert_allclose(served.numpy(), conv_stack(x).numpy(), atol=1e-6)

    report = export.saved_model(decoder, tmp_path / "decoder", version=7)
    assert report.path == tmp_path / "decoder" / "7"
    assert set(tf.saved_model.load(str(report.path)).signatures) == {"decode", "step", "serving_default"}
    with pytest.raises(export.ExportError, match="already exists"):
        export.saved_model(decoder, tmp_path / "decoder", version=7)


def test_subclassed_model_needs_a_signature(tmp_path):
    model = CumprodNet()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(export.ExportError, match="input_signature"):
        export.saved_model(model, tmp_path / "sm")


def test_flex_ops_are_named_and_only_allowed_on_request(tmp_path):
    model = CumprodNet()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(export.UnsupportedOpsError, match="Cumprod.*allow_flex=True") as error:
        export.tflite(model, tmp_path / "flex.tflite", input_signature=CUMPROD_SIGNATURE)
    assert error.value.flex_ops == ("Cumprod",)

    report = export.tflite(model, tmp_path / "flex.tflite", input_signature=CUMPROD_SIGNATURE, allow_flex=True)
    assert report.flex_ops == ("Cumprod",) and not report.checked and not report.passed
    assert report.path.is_file() and "not checked" in str(report)


def test_runner_cli_runs_without_tensorflow(conv_stack, float32_tflite, tmp_path):
    x = np.random.default_rng(5).standard_normal((3, 16, 8)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    script = (
        "import runpy, sys\n"
        f"sys.argv = ['litert_runner.py', {str(float32_tflite.path)!r}, '--input', {str(tmp_path / 'x.npy')!r},"
        f" '--output-dir', {str(tmp_path / 'out')!r}]\n"
        f"runpy.run_path({str(RUNNER)!r}, run_name='__main__')\n"
    )
    # the script ends in sys.exit(main()); an exit hook reports what it imported
    wrapped = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('TF_LOADED' if 'tensorflow' in sys.modules else 'TF_ABSENT'))\n"
        + script
    )
    result = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "TF_ABSENT" in result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "out" / "output_0.npy"), conv_stack(x).numpy(), atol=1e-5)

    described = subprocess.run(
        [sys.executable, str(RUNNER), str(float32_tflite.path)], capture_output=True, text=True, timeout=60
    )
    assert described.returncode == 0 and "in  frames: float32[-1, 16, 8]" in described.stdout


def test_runner_names_wrong_inputs(float32_tflite):
    runner = runner_class()(float32_tflite.path)
    with pytest.raises(ValueError, match=r"input 'frames' expects shape \[-1, 16, 8\]"):
        runner(np.zeros((2, 15, 8), "float32"))
    with pytest.raises(ValueError, match="takes 1 input"):
        runner(np.zeros((2, 16, 8), "float32"), np.zeros((2, 16, 8), "float32"))
    with pytest.raises(ValueError, match="holds float32 values; got complex64"):
        runner(np.zeros((2, 16, 8), "complex64"))


@pytest.mark.parametrize("quantize, gated", [(None, True), ("dynamic", False), ("int8", False)])
def test_discrete_outputs_must_match_in_float32_and_are_reported_when_quantized(quantize, gated):
    signature = types.SimpleNamespace(name="decide", input_specs=[tf.TensorSpec([4], tf.float32, name="x")])

    def keras_fn(x):
        return {"ids": tf.constant([1, 2, 3, 4], tf.int32), "logits": tf.constant(x)}

    def exported_fn(inputs):  # one id flipped at a near-tie; the logits within any tolerance
        return {"ids": np.array([1, 2, 3, 5], np.int32), "logits": inputs["x"] + 1e-6}

    samples = [{"x": np.linspace(-1, 1, 4).astype(np.float32)}] * 2
    ids, logits = export._compare(signature, keras_fn, exported_fn, samples, export.DEFAULT_TOLERANCES[quantize])
    assert ids.output == "ids" and ids.mismatch == 0.25 and ids.gated is gated and ids.passed is not gated
    assert logits.mismatch is None and logits.gated and logits.passed
    assert ids.status == ("FAIL" if gated else "reported (25.0% differ)")


def test_runner_cli_wrong_input_shape_or_file_is_one_line(float32_tflite, tmp_path):
    np.save(tmp_path / "wrong.npy", np.zeros((2, 15, 8), "float32"))
    for args in (["--input", str(tmp_path / "wrong.npy")], ["--input", str(tmp_path / "missing.npy")],
                 ["--input", "nope=" + str(tmp_path / "wrong.npy")]):
        result = subprocess.run([sys.executable, str(RUNNER), str(float32_tflite.path), *args,
                                 "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "expects shape [-1, 16, 8]" in subprocess.run(
        [sys.executable, str(RUNNER), str(float32_tflite.path), "--input", str(tmp_path / "wrong.npy"),
         "--output-dir", str(tmp_path / "out")], capture_output=True, text=True, timeout=120).stderr
