"""Models that break the contract get one clear error; float16 I/O and static batches work.

The models are tiny graphs built with onnx.helper and run on real ORT sessions.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ganport.cli import main
from ganport.core.errors import InputError, JobFailed
from ganport.infer import Discriminator, Generator, ModelMetadata
from ganport.infer.runtime.session import create_session

NZ, C, H, W = 4, 1, 2, 2
ONNX_TYPES = {"float32": TensorProto.FLOAT, "float16": TensorProto.FLOAT16}


def generator_model(
    path,
    *,
    metadata: ModelMetadata | None = None,
    input_names=("z",),
    output_name="image",
    batch="batch",
    nz=NZ,
    dtype="float32",
    activation="Tanh",
):
    """z (batch, nz) → MatMul → activation → Reshape (-1, C, H, W); extra inputs are added."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((nz, C * H * W)).astype(dtype)
    nodes = [
        helper.make_node("MatMul", [input_names[0], "w"], ["h"]),
        helper.make_node(activation, ["h"], ["a"]),
        helper.make_node("Reshape", ["a", "shape"], [output_name]),
    ]
    inputs = [helper.make_tensor_value_info(input_names[0], ONNX_TYPES[dtype], [batch, nz])]
    for extra in input_names[1:]:
        inputs.append(helper.make_tensor_value_info(extra, ONNX_TYPES[dtype], [batch, 1]))
        nodes.append(helper.make_node("Identity", [extra], [f"{extra}_unused"]))
    graph = helper.make_graph(
        nodes,
        "generator",
        inputs,
        [helper.make_tensor_value_info(output_name, ONNX_TYPES[dtype], [batch, C, H, W])],
        initializer=[
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.array([-1, C, H, W], np.int64), "shape"),
        ],
    )
    if len(input_names) > 1:
        graph.output.extend(
            helper.make_tensor_value_info(f"{e}_unused", ONNX_TYPES[dtype], [batch, 1])
            for e in input_names[1:]
        )
    return _save(graph, path, metadata)


def discriminator_model(path, *, metadata: ModelMetadata | None = None, logit_shape=("batch",)):
    """image (batch, C, H, W) → Flatten → MatMul → Reshape to ``logit_shape``."""
    weight = np.random.default_rng(1).standard_normal((C * H * W, 1)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["out"]),
            helper.make_node("Reshape", ["out", "shape"], ["logit"]),
        ],
        "discriminator",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", C, H, W])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, list(logit_shape))],
        initializer=[
            numpy_helper.from_array(weight, "w"),
            numpy_helper.from_array(np.array([-1] + [1] * (len(logit_shape) - 1)), "shape"),
        ],
    )
    return _save(graph, path, metadata)


def meta(role="generator", **fields) -> ModelMetadata:
    return ModelMetadata(role=role, arch="mlp", nz=NZ, channels=C, height=H, width=W, **fields)


def _save(graph, path, metadata: ModelMetadata | None):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata is not None:
        helper.set_model_props(model, {"ganport": metadata.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def test_a_valid_hand_built_generator_runs(tmp_path):
    g = Generator(generator_model(tmp_path / "g.onnx", metadata=meta()), provider="cpu")
    images = g.sample(5, seed=2)
    assert images.shape == (5, C, H, W) and images.dtype == np.float32


def test_no_metadata_is_named(tmp_path):
    path = generator_model(tmp_path / "g.onnx")
    with pytest.raises(InputError, match="no 'ganport' metadata"):
        Generator(path)


def test_no_metadata_exits_2_with_one_line(tmp_path, capsys):
    path = generator_model(tmp_path / "g.onnx")
    with pytest.raises(SystemExit) as exit_:
        main(["sample", str(path), "--out", str(tmp_path / "s.png")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no 'ganport' metadata" in err
    assert not (tmp_path / "s.png").exists()


def test_metadata_bytes_that_are_not_utf8_are_named(tmp_path, capsys):
    """A damaged file (found by the fuzzer): onnxruntime fails to decode the metadata."""
    path = generator_model(tmp_path / "g.onnx", metadata=meta())
    data = path.read_bytes()
    at = data.index(b'"role"')
    path.write_bytes(data[:at] + b"\xe2" + data[at + 1 :])  # same length: protobuf still parses
    with pytest.raises(InputError, match="metadata is not valid UTF-8"):
        Generator(path)
    with pytest.raises(SystemExit) as exit_:
        main(["sample", str(path), "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1 and "not valid UTF-8" in err


def test_graph_text_that_is_not_utf8_is_a_damaged_model(tmp_path):
    """Found by the fuzzer: onnxruntime's own error quotes the bad op name, and turning that
    message into a Python string is what fails."""
    path = generator_model(tmp_path / "g.onnx", metadata=meta())
    data = path.read_bytes()
    at = data.index(b"Tanh")
    path.write_bytes(data[:at] + b"\xe2" + data[at + 1 :])
    with pytest.raises(InputError, match="damaged ONNX model: text that is not UTF-8"):
        Generator(path)


def test_an_extra_input_is_named(tmp_path):
    path = generator_model(tmp_path / "g.onnx", metadata=meta(), input_names=("z", "label"))
    with pytest.raises(InputError, match=r"inputs are \['z', 'label'\].*promises \['z'\]"):
        Generator(path)


def test_a_wrongly_named_input_is_named(tmp_path):
    path = generator_model(tmp_path / "g.onnx", metadata=meta(), input_names=("noise",))
    with pytest.raises(InputError, match=r"\['noise'\]"):
        Generator(path)


def test_a_wrongly_named_output_is_named(tmp_path):
    path = generator_model(tmp_path / "g.onnx", metadata=meta(), output_name="picture")
    with pytest.raises(InputError, match="must output 'image'"):
        Generator(path)


def test_latent_size_disagreeing_with_metadata(tmp_path):
    path = generator_model(tmp_path / "g.onnx", metadata=meta(), nz=NZ + 1)
    with pytest.raises(InputError, match="metadata says"):
        Generator(path)


def test_fixed_batch_not_declared_in_metadata(tmp_path):
    path = generator_model(tmp_path / "g.onnx", metadata=meta(), batch=3)
    with pytest.raises(InputError, match=r"fixed batch of 3.*symbolic"):
        Generator(path)


def test_input_type_disagreeing_with_metadata(tmp_path):
    path = generator_model(tmp_path / "g.onnx", metadata=meta(), dtype="float16")
    with pytest.raises(InputError, match=r"tensor\(float16\).*io_dtype float32"):
        Generator(path)


def test_role_mismatch(tmp_path):
    path = discriminator_model(tmp_path / "d.onnx", metadata=meta("discriminator"))
    with pytest.raises(InputError, match="is a discriminator, not a generator"):
        Generator(path)


def test_discriminator_output_must_be_one_logit_per_image(tmp_path):
    path = discriminator_model(
        tmp_path / "d.onnx", metadata=meta("discriminator"), logit_shape=("batch", 1)
    )
    with pytest.raises(InputError, match="'logit' has shape"):
        Discriminator(path)


@pytest.mark.parametrize("content", [b"", b"\x08\x07 not a protobuf \xff" * 10])
def test_corrupt_files(tmp_path, content):
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a loadable ONNX model"):
        Generator(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such model file"):
        Generator(tmp_path / "absent.onnx")
    with pytest.raises(InputError, match="not a file"):
        Discriminator(tmp_path)


def test_float16_io_is_cast_at_the_boundary(tmp_path):
    fp32 = Generator(generator_model(tmp_path / "g32.onnx", metadata=meta()), provider="cpu")
    fp16 = Generator(
        generator_model(tmp_path / "g16.onnx", metadata=meta(io_dtype="float16"), dtype="float16"),
        provider="cpu",
    )
    images = fp16.sample(9, seed=4)
    assert images.dtype == np.float32
    np.testing.assert_allclose(images, fp32.sample(9, seed=4), atol=5e-3)
    assert np.array_equal(images, fp16.sample(20, seed=4, batch_size=4)[:9])


def test_static_batch_pads_the_last_batch_and_trims(tmp_path):
    dynamic = Generator(generator_model(tmp_path / "g.onnx", metadata=meta()), provider="cpu")
    static = Generator(
        generator_model(tmp_path / "g4.onnx", metadata=meta(static_batch=4), batch=4),
        provider="cpu",
    )
    assert static.default_batch == 4
    ten = static.sample(10, seed=1)
    assert np.array_equal(ten, dynamic.sample(10, seed=1))
    assert np.array_equal(ten, static.sample(13, seed=1, batch_size=3)[:10])


def test_non_finite_output_fails_the_job(tmp_path, capsys):
    # Log of a negative pre-activation is NaN: the model runs, its result is unusable.
    path = generator_model(tmp_path / "g.onnx", metadata=meta(), activation="Log")
    with pytest.raises(JobFailed, match="NaN or Inf"):
        Generator(path).sample(8)
    with pytest.raises(SystemExit) as exit_:
        main(["sample", str(path), "-n", "8", "--npy", str(tmp_path / "s.npy")])
    assert exit_.value.code == 1
    assert "NaN or Inf" in capsys.readouterr().err
    assert not (tmp_path / "s.npy").exists(), "a failed run must not leave a partial array"


@pytest.mark.parametrize("location", ["../secret/weights.bin", "/etc/hostname"])
def test_external_data_outside_the_model_folder_is_refused(tmp_path, location):
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "weights.bin").write_bytes(np.ones(16, np.float32).tobytes())
    weight = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "64")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["z", "w"], ["image"])],
        "g",
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / "g.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(InputError, match=r"keeps its data in .*: refused: (an absolute|through)"):
        create_session(path, "cpu")
