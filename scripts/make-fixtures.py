#!/usr/bin/env python3
"""Regenerate the SavedModel test fixtures and bundled example models for tfslice.

Run from the repository root with the project's virtualenv:

    .venv/bin/python scripts/make-fixtures.py [--only NAME[,NAME]] [--out-root DIR]

For every fixture NAME this deletes and rebuilds
``test/fixtures/NAME/model/`` (a TensorFlow SavedModel) and
``test/fixtures/NAME/golden.json``; the demo models ``a`` and ``b`` go to
``examples/models/{a,b}/`` with goldens at ``examples/models/{a,b}.golden.json``.

All weights are deterministic (fixed-seed ``np.random.default_rng`` or
arange-based formulas), so reruns produce the same numbers.

golden.json holds the tag-sets, every signature_def exactly as written in
saved_model.pb, and input/output cases. The expected outputs are always
produced by TensorFlow itself after re-loading the SavedModel from disk
(``tf.saved_model.load(...).signatures`` for TF2 models, a
``tf.compat.v1.Session`` + ``loader.load`` for the TF1 model), never
recomputed with numpy: the addon must match what TensorFlow's runtime really
does with the saved graph (dtype rules, kernel rounding, table init from
assets), and a numpy reimplementation could silently disagree with it.
"""

import argparse
import base64
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

# Keep the repo free of __pycache__ directories.
sys.dont_write_bytecode = True
# TF's C++ INFO chatter drowns the useful output of this script.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402
from tensorflow.python.ops import gen_io_ops, gen_resource_variable_ops  # noqa: E402

import keras  # noqa: E402

# The TF1 fixture necessarily uses deprecated v1 APIs; their warnings are expected noise.
tf.get_logger().setLevel("ERROR")

MAX_FIXTURE_BYTES = 200 * 1024

# DataType enum -> golden dtype name; anything else in a signature is a bug here.
DTYPE_NAMES = {
    types_pb2.DT_FLOAT: "float32",
    types_pb2.DT_DOUBLE: "float64",
    types_pb2.DT_INT8: "int8",
    types_pb2.DT_INT16: "int16",
    types_pb2.DT_INT32: "int32",
    types_pb2.DT_INT64: "int64",
    types_pb2.DT_UINT8: "uint8",
    types_pb2.DT_UINT16: "uint16",
    types_pb2.DT_UINT32: "uint32",
    types_pb2.DT_UINT64: "uint64",
    types_pb2.DT_BOOL: "bool",
    types_pb2.DT_HALF: "float16",
    types_pb2.DT_BFLOAT16: "bfloat16",
    types_pb2.DT_STRING: "string",
}

NP_DTYPES = {
    "float32": np.float32,
    "float64": np.float64,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "bool": np.bool_,
    "float16": np.float16,
    "bfloat16": tf.bfloat16.as_numpy_dtype,
    "string": object,
}


# ---------------------------------------------------------------------------
# Tensor <-> golden JSON encoding
# ---------------------------------------------------------------------------

def arr(values, dtype):
    """Build a numpy input array of golden dtype name `dtype` (str items become UTF-8 bytes)."""
    if dtype != "string":
        return np.array(values, dtype=NP_DTYPES[dtype])
    a = np.array(values, dtype=object)
    # Object arrays of bytes, element-wise, so b"\x00" and b"" survive untouched.
    return np.vectorize(lambda v: v.encode("utf-8") if isinstance(v, str) else bytes(v), otypes=[object])(a)


def dtype_name_of(a):
    if a.dtype == object or a.dtype.kind in ("S", "U"):
        return "string"
    if a.dtype == NP_DTYPES["bfloat16"]:
        return "bfloat16"
    for name, npd in NP_DTYPES.items():
        if name not in ("string", "bfloat16") and a.dtype == np.dtype(npd):
            return name
    raise TypeError(f"unsupported numpy dtype {a.dtype}")


def encode(a):
    """numpy array -> golden T object (row-major flat data)."""
    a = np.asarray(a)
    d = dtype_name_of(a)
    flat = a.reshape(-1)
    if d in ("float32", "float64"):
        data = [float(v) for v in flat]
        # NaN/Inf are not valid JSON numbers; fixtures must avoid them.
        assert all(np.isfinite(data)), f"non-finite value in {d} tensor"
    elif d in ("int64", "uint64"):
        # JS numbers lose precision past 2^53, so 64-bit ints travel as strings.
        data = [str(int(v)) for v in flat]
    elif d in ("int8", "int16", "int32", "uint8", "uint16", "uint32"):
        data = [int(v) for v in flat]
    elif d == "bool":
        data = [bool(v) for v in flat]
    elif d in ("float16", "bfloat16"):
        assert np.all(np.isfinite(flat.astype(np.float32))), f"non-finite value in {d} tensor"
        # Raw bit patterns keep half-precision values exact across languages.
        data = [int(v) for v in flat.view(np.uint16)]
    else:  # string
        data = [base64.b64encode(bytes(v)).decode("ascii") for v in flat]
    return {"dtype": d, "shape": [int(s) for s in a.shape], "data": data}


# ---------------------------------------------------------------------------
# Signature description read straight from saved_model.pb
# ---------------------------------------------------------------------------

def read_saved_model_pb(model_dir):
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((Path(model_dir) / "saved_model.pb").read_bytes())
    return sm


def base_dtype(dtype):
    """A reference dtype (DT_FLOAT_REF = 101 = DT_FLOAT + 100) as what fetching it yields."""
    return dtype - 100 if 100 < dtype < 200 else dtype


def dense_info(name, dtype, shape):
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"unsupported signature dtype {types_pb2.DataType.Name(dtype)}")
    return {"name": name, "dtype": DTYPE_NAMES[dtype], "shape": shape}


def shape_of(tensor_shape):
    return None if tensor_shape.unknown_rank else [int(d.size) for d in tensor_shape.dim]


def describe_tensor_info(ti):
    """A signature tensor as tfslice lists it (lib/proto.ts tensorSpec mirrors this).

    Dense: {name, dtype, shape}. Ragged and sparse tensors have no single graph tensor:
    name "" and a "composite" listing the tensors they are made of, keyed as tfslice
    returns them (`{key}.{component}`): ragged `flat_values`, `nested_row_splits.{i}`
    (tf.RaggedTensor.from_nested_row_splits' arguments), sparse `indices`, `values`,
    `dense_shape` (tf.SparseTensor's).
    """
    encoding = ti.WhichOneof("encoding")
    if encoding == "name":
        return dense_info(ti.name, base_dtype(ti.dtype), shape_of(ti.tensor_shape))
    if encoding == "coo_sparse":
        coo = ti.coo_sparse
        shape = shape_of(ti.tensor_shape)
        rank = -1 if shape is None else len(shape)
        components = {
            "indices": dense_info(coo.indices_tensor_name, types_pb2.DT_INT64, [-1, rank]),
            "values": dense_info(coo.values_tensor_name, base_dtype(ti.dtype), [-1]),
            "dense_shape": dense_info(coo.dense_shape_tensor_name, types_pb2.DT_INT64, [rank]),
        }
        return {"name": "", "dtype": DTYPE_NAMES[base_dtype(ti.dtype)], "shape": shape,
                "composite": {"kind": "sparse", "components": components}}
    ct = ti.composite_tensor
    parts = [dense_info(c.name, base_dtype(c.dtype), shape_of(c.tensor_shape)) for c in ct.components]
    if ct.type_spec.type_spec_class == 3:  # RAGGED_TENSOR_SPEC: (shape, dtype, ragged_rank, row_splits_dtype)
        state = ct.type_spec.type_state.tuple_value.values
        keys = ["flat_values"] + [f"nested_row_splits.{i}" for i in range(len(parts) - 1)]
        return {"name": "", "dtype": DTYPE_NAMES[state[1].tensor_dtype_value], "shape": shape_of(state[0].tensor_shape_value),
                "composite": {"kind": "ragged", "components": dict(zip(keys, parts))}}
    return {"name": "", "dtype": parts[0]["dtype"] if parts else "float32", "shape": None,
            "composite": {"kind": "composite", "components": {f"components.{i}": p for i, p in enumerate(parts)}}}


def describe_model(model_dir):
    """(tag sets, signatures of the ["serve"] meta graph) as saved_model.pb states them."""
    sm = read_saved_model_pb(model_dir)
    tags = [list(mg.meta_info_def.tags) for mg in sm.meta_graphs]
    serve = [mg for mg in sm.meta_graphs if sorted(mg.meta_info_def.tags) == ["serve"]]
    mg = serve[0] if serve else sm.meta_graphs[0]
    sigs = {}
    for key in sorted(mg.signature_def):
        # TF2 saves its init op as a pseudo-signature (NoOp, DT_INVALID); it is not callable.
        if key == "__saved_model_init_op":
            continue
        sd = mg.signature_def[key]
        sigs[key] = {
            "inputs": {k: describe_tensor_info(sd.inputs[k]) for k in sorted(sd.inputs)},
            "outputs": {k: describe_tensor_info(sd.outputs[k]) for k in sorted(sd.outputs)},
            "methodName": sd.method_name,
        }
    return tags, sigs


# ---------------------------------------------------------------------------
# Goldens computed by TensorFlow from the on-disk model
# ---------------------------------------------------------------------------

def to_tf(a):
    if dtype_name_of(a) == "string":
        return tf.constant(a.tolist() if a.ndim else a.item(), dtype=tf.string, shape=a.shape)
    return tf.constant(a)


def flatten_output(key, value):
    """{key: array}, or for a ragged or sparse value its components as tfslice keys them."""
    if isinstance(value, tf.RaggedTensor):
        flat = {f"{key}.flat_values": value.flat_values.numpy()}
        for i, splits in enumerate(value.nested_row_splits):
            flat[f"{key}.nested_row_splits.{i}"] = splits.numpy()
        return flat
    if isinstance(value, tf.SparseTensor):
        return {f"{key}.indices": value.indices.numpy(), f"{key}.values": value.values.numpy(),
                f"{key}.dense_shape": value.dense_shape.numpy()}
    return {key: value.numpy()}


def run_tf2(model_dir, requests):
    """requests: [(signature, {key: np.ndarray})] -> cases, run via a fresh tf.saved_model.load."""
    loaded = tf.saved_model.load(str(model_dir))
    cases = []
    for sig, inputs in requests:
        fn = loaded.signatures[sig]
        out = fn(**{k: to_tf(v) for k, v in inputs.items()})
        flat = {}
        for k, v in out.items():
            flat.update(flatten_output(k, v))
        cases.append(
            {
                "signature": sig,
                "inputs": {k: encode(v) for k, v in sorted(inputs.items())},
                "outputs": {k: encode(v) for k, v in sorted(flat.items())},
            }
        )
    return cases


def run_tf1(model_dir, tags, requests):
    """Same as run_tf2 but through the TF1 Session loader (runs the main_op/table init).

    The requests run in order in one session, so a stateful graph's cases follow each other."""
    cases = []
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as sess:
        mg = tf.compat.v1.saved_model.loader.load(sess, tags, str(model_dir))
        for sig, inputs in requests:
            sd = mg.signature_def[sig]
            out_keys = sorted(sd.outputs)
            feed = {sd.inputs[k].name: v for k, v in inputs.items()}
            vals = sess.run([sd.outputs[k].name for k in out_keys], feed_dict=feed)
            cases.append(
                {
                    "signature": sig,
                    "inputs": {k: encode(v) for k, v in sorted(inputs.items())},
                    "outputs": {k: encode(np.asarray(v)) for k, v in zip(out_keys, vals)},
                }
            )
    return cases


def flat_specs(specs):
    """Signature tensors by the keys a run returns them under (composites by component)."""
    flat = {}
    for key, spec in specs.items():
        if "composite" in spec:
            for part, component in spec["composite"]["components"].items():
                flat[f"{key}.{part}"] = component
        else:
            flat[key] = spec
    return flat


def check_cases_against_signatures(sigs, cases):
    """Each case must use exactly the signature's keys, dtypes and compatible shapes."""
    for c in cases:
        sd = sigs[c["signature"]]
        for side in ("inputs", "outputs"):
            specs = flat_specs(sd[side])
            assert set(c[side]) == set(specs), (c["signature"], side, set(c[side]), set(specs))
            for k, t in c[side].items():
                spec = specs[k]
                assert t["dtype"] == spec["dtype"], (c["signature"], k, t["dtype"], spec["dtype"])
                if spec["shape"] is not None:
                    assert len(spec["shape"]) == len(t["shape"]), (c["signature"], k, spec["shape"], t["shape"])
                    for want, got in zip(spec["shape"], t["shape"]):
                        assert want in (-1, got), (c["signature"], k, spec["shape"], t["shape"])
                assert len(t["data"]) == int(np.prod(t["shape"], dtype=np.int64)), (c["signature"], k)


def write_golden(model_dir, golden_path, cases):
    tags, sigs = describe_model(model_dir)
    check_cases_against_signatures(sigs, cases)
    doc = {"tags": tags, "signatures": sigs, "cases": cases}
    golden_path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
    return doc


# ---------------------------------------------------------------------------
# Fixture builders: each saves a model into `model_dir` and returns its cases.
# ---------------------------------------------------------------------------

def spec(shape, dtype, name):
    return tf.TensorSpec(shape, dtype, name=name)


def build_tiny(model_dir):
    class Tiny(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable((np.arange(12, dtype=np.float32).reshape(4, 3) / 10 - 0.5), name="w")
            self.b = tf.Variable(np.array([0.1, -0.2, 0.3], np.float32), name="b")

        @tf.function(input_signature=[spec([None, 4], tf.float32, "x")])
        def serve(self, x):
            return {"y": tf.matmul(x, self.w) + self.b}

    m = Tiny()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    rng = np.random.default_rng(1)
    return run_tf2(
        model_dir,
        [
            ("serving_default", {"x": arr([[1.0, -2.0, 0.5, 3.25]], "float32")}),
            ("serving_default", {"x": rng.standard_normal((3, 4)).astype(np.float32)}),
        ],
    )


def build_ints(model_dir):
    class Ints(tf.Module):
        @tf.function(input_signature=[spec([None], tf.int32, "a"), spec([None], tf.int64, "b")])
        def serve(self, a, b):
            return {"a2": a * 2, "b1": b + 1}

    m = Ints()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    return run_tf2(
        model_dir,
        [
            ("serving_default", {"a": arr([1, -2, 3], "int32"), "b": arr([10, -20, 30, 0], "int64")}),
            (
                "serving_default",
                {
                    # Values near the int32 limits (halved so *2 does not wrap).
                    "a": arr([0, -1, 1073741823, -1073741824], "int32"),
                    # Past 2^53 / near int64 limits: exactness is the point of this fixture.
                    "b": arr([9007199254740993, -9007199254740995, 9223372036854775806, -9223372036854775808, -1], "int64"),
                },
            ),
        ],
    )


def build_reshape(model_dir):
    # Fails inside TensorFlow at run time (not in any signature check) when x's size is
    # not a multiple of rows: the tests use it for errors that keep TF's code and text.
    class Reshape(tf.Module):
        @tf.function(input_signature=[spec([None], tf.float32, "x"), spec([], tf.int32, "rows")])
        def serve(self, x, rows):
            return {"y": tf.reshape(x, tf.stack([rows, -1]))}

    m = Reshape()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    return run_tf2(
        model_dir,
        [("serving_default", {"x": arr([1, 2, 3, 4, 5, 6], "float32"), "rows": arr(2, "int32")})],
    )


def build_slow(model_dir):
    class Slow(tf.Module):
        @tf.function(input_signature=[spec([], tf.int32, "n")])
        def serve(self, n):
            # Integer-built matrix with entries k/1024, k in [-8, 8]: exact in float32 and
            # Frobenius (hence spectral) norm ~0.61 < 1, so repeated products stay bounded.
            idx = tf.range(128 * 128, dtype=tf.int32)
            i, j = idx // 128, idx % 128
            m = tf.reshape(tf.cast((i * 7 + j * 13) % 17 - 8, tf.float32) / 1024.0, [128, 128])
            v0 = tf.ones([128, 128], tf.float32)

            def body(k, v):
                return k + 1, tf.tanh(tf.matmul(v, m) + 0.1)

            _, v = tf.while_loop(lambda k, v: k < n, body, [tf.constant(0), v0])
            return {"y": tf.reduce_sum(v)}

    m = Slow()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    cases = run_tf2(model_dir, [("serving_default", {"n": arr(3, "int32")})])

    # Report the cost scale of a long run so the JS "event loop stays free" test can pick n.
    fn = tf.saved_model.load(str(model_dir)).signatures["serving_default"]
    fn(n=tf.constant(10))  # warm-up: first call pays tracing/graph setup
    t0 = time.perf_counter()
    fn(n=tf.constant(2000))
    SUMMARY.append(f"slow: n=2000 took {time.perf_counter() - t0:.3f} s via the Python signature call")
    return cases


def build_multi_sig(model_dir):
    class Multi(tf.Module):
        @tf.function(input_signature=[spec([None, 2], tf.float32, "x")])
        def serve(self, x):
            return {"sum": tf.reduce_sum(x, axis=1), "prod": tf.reduce_prod(x, axis=1)}

        @tf.function(input_signature=[spec([None], tf.float32, "x")])
        def double(self, x):
            return {"y": x * 2}

        @tf.function(input_signature=[spec([2], tf.float32, "a"), spec([3], tf.float32, "b")])
        def concat(self, a, b):
            return {"c": tf.concat([a, b], axis=0)}

    m = Multi()
    tf.saved_model.save(
        m, str(model_dir), signatures={"serving_default": m.serve, "double": m.double, "concat": m.concat}
    )
    return run_tf2(
        model_dir,
        [
            ("serving_default", {"x": arr([[1.5, 2.0], [-3.0, 0.25], [4.0, -1.0]], "float32")}),
            ("double", {"x": arr([0.5, -1.25, 3.0, 1e-3], "float32")}),
            ("concat", {"a": arr([1.0, 2.0], "float32"), "b": arr([-3.5, 4.0, 0.125], "float32")}),
        ],
    )


def build_tf1_vocab(model_dir):
    vocab = ["apple", "banana", "cherry", "date"]
    # Built inside a temp cwd with a relative filename: the Builder copies it into assets/,
    # and no machine-specific temp path ends up baked into saved_model.pb.
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        vocab_path = "vocab.txt"
        with open(vocab_path, "w") as f:
            f.write("\n".join(vocab) + "\n")
        graph = tf.Graph()
        with graph.as_default():
            words = tf.compat.v1.placeholder(tf.string, [None], name="words")
            init = tf.compat.v1.lookup.TextFileInitializer(
                vocab_path, tf.string, tf.compat.v1.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.compat.v1.lookup.TextFileIndex.LINE_NUMBER,
            )
            table = tf.compat.v1.lookup.StaticHashTable(init, default_value=-1)
            ids = tf.identity(table.lookup(words), name="ids")
            word_scores = tf.compat.v1.get_variable(
                "word_scores", initializer=np.array([0.5, 1.25, -0.75, 2.0], np.float32)
            )
            scale = tf.compat.v1.get_variable("scale", initializer=np.float32(1.5))
            safe = tf.clip_by_value(ids, 0, len(vocab) - 1)
            # Unknown words (-1) score 0 instead of borrowing word 0's score.
            raw = tf.where(ids >= 0, tf.gather(word_scores, safe) * scale, tf.zeros_like(words, tf.float32))
            scores = tf.identity(tf.clip_by_value(raw, -1.0, 2.5), name="scores")
            sig = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={"words": words}, outputs={"ids": ids, "scores": scores}
            )
            with tf.compat.v1.Session(graph=graph) as sess:
                sess.run(tf.compat.v1.global_variables_initializer())
                builder = tf.compat.v1.saved_model.Builder(str(model_dir))
                builder.add_meta_graph_and_variables(
                    sess,
                    [tf.compat.v1.saved_model.tag_constants.SERVING],
                    signature_def_map={"serving_default": sig},
                    # Explicit, so the vocab is copied into assets/ whatever the Builder's defaults.
                    assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
                    main_op=tf.compat.v1.tables_initializer(),
                    strip_default_attrs=True,
                )
                builder.save()
    assert (Path(model_dir) / "assets" / "vocab.txt").is_file(), "vocab asset was not copied"
    # Loaded after the temp vocab is gone, proving the table reads the copied asset.
    return run_tf1(
        model_dir,
        ["serve"],
        [
            ("serving_default", {"words": arr(["apple", "cherry", "kiwi", "", "date", "banana"], "string")}),
            ("serving_default", {"words": arr(["date"], "string")}),
            ("serving_default", {"words": arr([], "string")}),
        ],
    )


def build_counter(model_dir):
    # TensorFlow Serving's own test model saved_model_counter, rebuilt: a TF1 graph whose
    # signatures fetch a reference variable directly, so they list DT_FLOAT_REF (101).
    graph = tf.Graph()
    with graph.as_default():
        counter = tf.compat.v1.Variable(0.0, dtype=tf.float32, name="counter", use_resource=False)
        with tf.compat.v1.name_scope("incr_counter_op"):
            incr_counter = counter.assign_add(1.0)
        delta = tf.compat.v1.placeholder(dtype=tf.float32, name="delta")  # unknown rank
        with tf.compat.v1.name_scope("incr_counter_by_op"):
            incr_counter_by = counter.assign_add(delta)
        with tf.compat.v1.name_scope("reset_counter_op"):
            reset_counter = counter.assign(0.0)
        def predict(inputs, outputs):
            info = tf.compat.v1.saved_model.utils.build_tensor_info
            return tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
                {k: info(v) for k, v in inputs.items()}, {k: info(v) for k, v in outputs.items()},
                tf.compat.v1.saved_model.signature_constants.PREDICT_METHOD_NAME)

        signatures = {
            "get_counter": predict(inputs={}, outputs={"output": counter}),
            "incr_counter": predict(inputs={}, outputs={"output": incr_counter}),
            "incr_counter_by": predict(inputs={"delta": delta}, outputs={"output": incr_counter_by}),
            "reset_counter": predict(inputs={}, outputs={"output": reset_counter}),
        }
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(model_dir))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures, strip_default_attrs=True)
            builder.save()
    sm = read_saved_model_pb(model_dir)
    refs = [sd.outputs["output"].dtype for sd in sm.meta_graphs[0].signature_def.values()]
    assert types_pb2.DT_FLOAT_REF in refs, refs
    # Python TF1 gives 0, 1, 4, 4, 0, 0 for this sequence.
    return run_tf1(
        model_dir,
        ["serve"],
        [
            ("get_counter", {}),
            ("incr_counter", {}),
            ("incr_counter_by", {"delta": arr(3, "float32")}),
            ("get_counter", {}),
            ("reset_counter", {}),
            ("get_counter", {}),
        ],
    )


def build_queue(model_dir):
    # A TF1 graph that keeps a fed tensor past its run: `enqueue` puts x in a FIFOQueue (the
    # queue holds x's own buffer, not a copy), `dequeue` takes it out a later run. Feeds whose
    # memory tfslice frees or reuses after the run (Model.alloc's shared memory, a host's slot)
    # must stay valid for as long as TensorFlow holds them.
    n = 1 << 12  # 16 KiB of float32: fed in place (borrowed, or shared with a host)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [n], name="x")
        queue = tf.queue.FIFOQueue(100, [tf.float32], shapes=[[n]], name="q")
        enqueue = queue.enqueue([x])
        with tf.control_dependencies([enqueue]):
            size = queue.size()
        taken = queue.dequeue()
        # `dequeue_fail`: a dequeue beside an Assert that fails once a loop of n steps has run
        # (its dequeue waits by then): TensorFlow aborts the step, which cancels the waiting
        # dequeue too, and its attempt stays queued (native/session.cc, AtFreshStackDepth).
        steps = tf.compat.v1.placeholder(tf.int32, [], name="n")
        looped = tf.while_loop(lambda i: i < steps, lambda i: i + 1, [tf.constant(0)])
        looped = looped[0] if isinstance(looped, (list, tuple)) else looped
        check = tf.debugging.Assert(looped < 0, [looped], name="fail_after_loop")
        with tf.control_dependencies([check]):
            failed = tf.reduce_sum(taken)
        # `count`: a loop of its own, no queue on its way (a negative n fails at once, a large
        # one loops until its limit): its runs need no fresh stack address although the graph
        # holds a queue (lib/ops.ts outputsWithoutKeyedWaits).
        counted = tf.while_loop(lambda i: i < steps, lambda i: i + 1, [tf.constant(0)], name="count_loop")
        counted = counted[0] if isinstance(counted, (list, tuple)) else counted
        nonnegative = tf.debugging.Assert(steps >= 0, [steps], name="count_nonnegative")
        with tf.control_dependencies([nonnegative]):
            counted = tf.identity(counted)
        # `read`: a reader taking its work from a queue of strings whose handle reaches it only
        # through a resource variable that the main op fills at load: no edge leads from `read`'s
        # outputs to the queue, yet its runs wait in it (lib/ops.ts KEYED_WAIT_NAMES, helper-108).
        # `put` {w: string} -> {size} gives it work, `take` {} -> {w} takes work as a dequeue.
        work = tf.queue.FIFOQueue(100, [tf.string], shapes=[[]], name="work")
        w = tf.compat.v1.placeholder(tf.string, [], name="w")
        with tf.control_dependencies([work.enqueue([w])]):
            work_size = work.size()
        holder = gen_resource_variable_ops.var_handle_op(dtype=tf.resource, shape=[], shared_name="work_holder", name="work_holder")
        fill_holder = gen_resource_variable_ops.assign_variable_op(holder, work.queue_ref, name="fill_work_holder")
        work_handle = gen_resource_variable_ops.read_variable_op(holder, dtype=tf.resource, name="work_handle")
        reader = gen_io_ops.identity_reader_v2(shared_name="work_reader", name="work_reader")
        read_key, read_value = gen_io_ops.reader_read_v2(reader, work_handle, name="read")
        info = tf.compat.v1.saved_model.utils.build_tensor_info
        def predict(inputs, outputs):
            return tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
                {k: info(v) for k, v in inputs.items()}, {k: info(v) for k, v in outputs.items()},
                tf.compat.v1.saved_model.signature_constants.PREDICT_METHOD_NAME)
        signatures = {
            "put": predict({"w": w}, {"size": work_size}),
            "read": predict({}, {"key": tf.identity(read_key), "value": tf.identity(read_value)}),
            "take": predict({}, {"w": tf.identity(work.dequeue())}),
            "enqueue": predict({"x": x}, {"size": size}),
            # Also returns x itself: an output over the fed buffer that the queue holds too.
            "enqueue_echo": predict({"x": x}, {"size": size, "echo": tf.identity(x)}),
            "dequeue": predict({}, {"sum": tf.reduce_sum(taken), "head": taken[:4] * 1.0}),
            # 1 MiB out: runSync() runs it on a runner thread (native/session.cc, SyncRunner).
            "dequeue_big": predict({}, {"big": tf.tile(taken, [64])}),
            "dequeue_fail": predict({"n": steps}, {"sum": failed}),
            "count": predict({"n": steps}, {"count": counted}),
        }
        with tf.compat.v1.Session(graph=graph) as sess:
            builder = tf.compat.v1.saved_model.Builder(str(model_dir))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures, strip_default_attrs=True,
                                                 main_op=tf.group(fill_holder))
            builder.save()
    # No golden cases: 16 KiB inputs would not fit a fixture's size; test/95 checks the sums.
    return []


def build_passthrough(model_dir):
    # A TF1 signature whose outputs include its inputs themselves (Estimator exports pass keys
    # through this way): TensorFlow refuses to fetch a fed tensor, Python's Session.run answers
    # with the fed value, and so must tfslice. A string key, an output under two names, and a
    # computed one beside them.
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        key = tf.compat.v1.placeholder(tf.string, [None], name="key")
        doubled = tf.multiply(x, 2.0, name="doubled")
        info = tf.compat.v1.saved_model.utils.build_tensor_info
        sig = tf.compat.v1.saved_model.signature_def_utils.build_signature_def(
            {"x": info(x), "key": info(key)},
            {"x_out": info(x), "x_again": info(x), "key": info(key), "doubled": info(doubled)},
            tf.compat.v1.saved_model.signature_constants.PREDICT_METHOD_NAME)
        with tf.compat.v1.Session(graph=graph) as sess:
            builder = tf.compat.v1.saved_model.Builder(str(model_dir))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map={"serving_default": sig}, strip_default_attrs=True)
            builder.save()
    return run_tf1(model_dir, ["serve"], [("serving_default", {"x": arr([1.5, -2.0, 3.25], "float32"), "key": arr(["a", "bc", "d"], "string")})])


def build_tagless(model_dir):
    # TF Hub's TF1 format: a meta graph saved with the empty tag-set, a lookup table
    # initialised by its main_op.
    graph = tf.Graph()
    with graph.as_default():
        words = tf.compat.v1.placeholder(tf.string, [None], name="words")
        init = tf.compat.v1.lookup.KeyValueTensorInitializer(
            tf.constant(["a", "b", "c"]), tf.constant([1, 2, 3], tf.int64))
        table = tf.compat.v1.lookup.StaticHashTable(init, default_value=-1)
        ids = tf.identity(table.lookup(words), name="ids")
        sig = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(inputs={"words": words}, outputs={"ids": ids})
        with tf.compat.v1.Session(graph=graph) as sess:
            builder = tf.compat.v1.saved_model.Builder(str(model_dir))
            builder.add_meta_graph_and_variables(
                sess, [], signature_def_map={"default": sig}, main_op=tf.compat.v1.tables_initializer(),
                strip_default_attrs=True)
            builder.save()
    return run_tf1(model_dir, [], [("default", {"words": arr(["b", "zz"], "string")})])


def build_composite(model_dir):
    # Outputs with no single graph tensor: a RaggedTensor (composite_tensor encoding) and a
    # SparseTensor (coo_sparse encoding), next to a dense one.
    class Composite(tf.Module):
        @tf.function(input_signature=[spec([None], tf.int64, "lens")])
        def serve(self, lens):
            r = tf.RaggedTensor.from_row_lengths(tf.range(tf.reduce_sum(lens)), lens)
            s = tf.sparse.from_dense(tf.reshape(tf.cast(lens, tf.float32), [1, -1]))
            return {"r": r, "n": tf.size(lens), "s": s}

        # A dense output keyed like a component of the ragged one (legal in Python).
        @tf.function(input_signature=[spec([None], tf.int64, "lens")])
        def collide(self, lens):
            r = tf.RaggedTensor.from_row_lengths(tf.range(tf.reduce_sum(lens)), lens)
            return {"r": r, "r.flat_values": tf.cast(lens, tf.float32) * 10.0}

    m = Composite()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve, "collide": m.collide})
    return run_tf2(
        model_dir,
        [("serving_default", {"lens": arr([2, 0, 1], "int64")}), ("serving_default", {"lens": arr([], "int64")})],
    )


def build_shared_outputs(model_dir):
    # Outputs big enough for tfslice to hand over without a copy (>= 16 KiB) whose buffers
    # TensorFlow keeps: a constant, a variable's value, and one tensor under two keys.
    class Shared(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.range(8192, dtype=tf.float32) / 8.0, name="w")

        @tf.function(input_signature=[spec([None], tf.float32, "x")])
        def serve(self, x):
            y = x * 2.0
            return {"anchors": tf.constant(np.arange(8192, dtype=np.float32)), "w": tf.identity(self.w),
                    "y": y, "y_again": y}

    m = Shared()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    # No golden cases: four 32 KiB outputs would make golden.json 400 KiB, and every value
    # is exact (anchors = 0..8191, w = that / 8, y = 2x); test/50 checks them.
    out = tf.saved_model.load(str(model_dir)).signatures["serving_default"](x=tf.range(4.0))
    assert np.array_equal(out["anchors"].numpy(), np.arange(8192, dtype=np.float32))
    assert np.array_equal(out["w"].numpy(), np.arange(8192, dtype=np.float32) / 8)
    return []


CUSTOM_OP_SOURCE = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "custom_op" / "add_one.cc"


def build_custom_op_library(out_dir):
    """Compiles test/fixtures/custom_op/add_one.cc (op TfsliceAddOne, C API) against this TensorFlow."""
    import subprocess
    tf_dir = Path(tf.__file__).parent
    lib = Path(out_dir) / "add_one.so"
    subprocess.run(["c++", "-std=c++17", "-shared", "-fPIC", "-O2", "-o", str(lib), str(CUSTOM_OP_SOURCE),
                    f"-I{tf_dir / 'include'}", f"-L{tf_dir}", "-l:libtensorflow_framework.so.2",
                    f"-Wl,-rpath,{tf_dir}"], check=True)
    return lib


def build_custom_op(model_dir):
    # A model that needs an op from a plug-in library, as tensorflow_text's do.
    with tempfile.TemporaryDirectory() as tmp:
        ops = tf.load_op_library(str(build_custom_op_library(tmp)))

        class Custom(tf.Module):
            @tf.function(input_signature=[spec([None], tf.float32, "x")])
            def serve(self, x):
                return {"y": ops.tfslice_add_one(x)}

        m = Custom()
        tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
        return run_tf2(model_dir, [("serving_default", {"x": arr([1.5, -2.0, 0.0], "float32")})])


def half_plus(model_dir, b):
    """TensorFlow Serving's saved_model_half_plus_two, rebuilt (TF1): y = 0.5x + b, with a
    predict signature (x -> y), and classify and regress signatures reading serialized
    tf.Examples (feature x, and x2 with a default) as TensorFlow Serving's test model has."""
    graph = tf.Graph()
    with graph.as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        features = {
            "x": tf.io.FixedLenFeature([1], tf.float32),
            "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
        }
        parsed = tf.io.parse_example(serialized, features)
        x = tf.identity(parsed["x"], name="x")  # [-1, 1] from the examples
        x2 = parsed["x2"]
        y = tf.add(tf.multiply(0.5, x), float(b), name="y")
        y2 = tf.add(tf.multiply(0.5, x2), float(b), name="y2")
        info = tf.compat.v1.saved_model.utils.build_tensor_info
        sdu = tf.compat.v1.saved_model.signature_def_utils
        const = tf.compat.v1.saved_model.signature_constants
        signatures = {
            "serving_default": sdu.build_signature_def({"x": info(x)}, {"y": info(y)}, const.PREDICT_METHOD_NAME),
            "regress_x_to_y": sdu.build_signature_def({const.REGRESS_INPUTS: info(serialized)}, {const.REGRESS_OUTPUTS: info(y)}, const.REGRESS_METHOD_NAME),
            "regress_x2_to_y2": sdu.build_signature_def({const.REGRESS_INPUTS: info(serialized)}, {const.REGRESS_OUTPUTS: info(y2)}, const.REGRESS_METHOD_NAME),
            "classify_x_to_y": sdu.build_signature_def({const.CLASSIFY_INPUTS: info(serialized)}, {const.CLASSIFY_OUTPUT_SCORES: info(y)}, const.CLASSIFY_METHOD_NAME),
        }
        with tf.compat.v1.Session(graph=graph) as sess:
            builder = tf.compat.v1.saved_model.Builder(str(model_dir))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures, strip_default_attrs=True)
            builder.save()
    example = lambda **f: tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(float_list=tf.train.FloatList(value=[v])) for k, v in f.items()})).SerializeToString()
    serialized_examples = np.array([example(x=1.0), example(x=2.0, x2=4.0)], dtype=object)
    return run_tf1(
        model_dir,
        ["serve"],
        [
            ("serving_default", {"x": arr([[1.0], [2.0], [5.0]], "float32")}),
            ("regress_x_to_y", {"inputs": serialized_examples}),
            ("regress_x2_to_y2", {"inputs": serialized_examples}),
            ("classify_x_to_y", {"inputs": serialized_examples}),
        ],
    )


def build_classify(model_dir):
    """Classify and regress signatures of each form TensorFlow Serving's classifier and regressor
    take (TF1), over one tf.Example parser with a float, an int64 and a bytes feature, each with a
    default: classes and scores ([-1, 3]; serving_default), classes only, scores only, scores
    beside another output (not fetched by Classify), and a regression output shaped [-1]."""
    graph = tf.Graph()
    with graph.as_default():
        serialized = tf.compat.v1.placeholder(tf.string, [None], name="tf_example")
        features = {
            "x": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0]),
            "n": tf.io.FixedLenFeature([1], tf.int64, default_value=[0]),
            "w": tf.io.FixedLenFeature([1], tf.string, default_value=[b"none"]),
        }
        parsed = tf.io.parse_example(serialized, features)
        x, n, w = parsed["x"], parsed["n"], parsed["w"]  # [-1, 1] each
        nf = tf.cast(n, tf.float32)
        scores = tf.identity(tf.concat([x, x * 2.0, x + nf], axis=1), name="scores")
        classes = tf.identity(tf.concat([w, tf.fill(tf.shape(w), "b"), tf.strings.as_string(n)], axis=1), name="classes")
        logits = tf.identity(scores * 10.0, name="logits")
        total = tf.identity(tf.reshape(x + nf, [-1]), name="total")
        info = tf.compat.v1.saved_model.utils.build_tensor_info
        sdu = tf.compat.v1.saved_model.signature_def_utils
        const = tf.compat.v1.saved_model.signature_constants
        inputs = {const.CLASSIFY_INPUTS: info(serialized)}
        classify = lambda outputs: sdu.build_signature_def(inputs, {k: info(v) for k, v in outputs.items()}, const.CLASSIFY_METHOD_NAME)
        signatures = {
            "serving_default": classify({"classes": classes, "scores": scores}),
            "classes_only": classify({"classes": classes}),
            "scores_only": classify({"scores": scores}),
            "scores_and_logits": classify({"scores": scores, "logits": logits}),
            "regress": sdu.build_signature_def(inputs, {const.REGRESS_OUTPUTS: info(total)}, const.REGRESS_METHOD_NAME),
        }
        with tf.compat.v1.Session(graph=graph) as sess:
            builder = tf.compat.v1.saved_model.Builder(str(model_dir))
            builder.add_meta_graph_and_variables(sess, ["serve"], signature_def_map=signatures, strip_default_attrs=True)
            builder.save()
    def example(**f):
        kinds = {"x": lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=[v])),
                 "n": lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=[v])),
                 "w": lambda v: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))}
        return tf.train.Example(features=tf.train.Features(feature={k: kinds[k](v) for k, v in f.items()})).SerializeToString()
    examples = np.array([example(x=1.5, n=2, w="cat"), example(x=-0.25), example(n=7, w="dog")], dtype=object)
    return run_tf1(model_dir, ["serve"], [(name, {"inputs": examples}) for name in signatures])


def build_half_plus_two(model_dir):
    return half_plus(model_dir, 2)


def build_half_plus_three(model_dir):
    # Version 2 of the half_plus_two model in the serving tests: same signatures, b = 3.
    return half_plus(model_dir, 3)


def build_half_plus_two_tf2(model_dir):
    # The same model as TF2 saves it. TF2 writes every signature with method_name
    # tensorflow/serving/predict; classify and regress need theirs, so they are set afterwards
    # in saved_model.pb, as users of TensorFlow Serving's Classify/Regress do.
    features = {"x": tf.io.FixedLenFeature([1], tf.float32), "x2": tf.io.FixedLenFeature([1], tf.float32, default_value=[0.0])}

    class HalfPlusTwo(tf.Module):
        @tf.function(input_signature=[spec([None, 1], tf.float32, "x")])
        def predict(self, x):
            return {"y": 0.5 * x + 2.0}

        @tf.function(input_signature=[spec([None], tf.string, "inputs")])
        def regress(self, inputs):
            return {"outputs": 0.5 * tf.io.parse_example(inputs, features)["x"] + 2.0}

        @tf.function(input_signature=[spec([None], tf.string, "inputs")])
        def classify(self, inputs):
            return {"scores": 0.5 * tf.io.parse_example(inputs, features)["x"] + 2.0}

    m = HalfPlusTwo()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.predict, "regress_x_to_y": m.regress, "classify_x_to_y": m.classify})
    sm = read_saved_model_pb(model_dir)
    defs = sm.meta_graphs[0].signature_def
    defs["regress_x_to_y"].method_name = "tensorflow/serving/regress"
    defs["classify_x_to_y"].method_name = "tensorflow/serving/classify"
    (Path(model_dir) / "saved_model.pb").write_bytes(sm.SerializeToString())
    example = lambda x: tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))})).SerializeToString()
    serialized_examples = np.array([example(1.0), example(2.0)], dtype=object)
    return run_tf2(
        model_dir,
        [
            ("serving_default", {"x": arr([[1.0], [2.0], [5.0]], "float32")}),
            ("regress_x_to_y", {"inputs": serialized_examples}),
            ("classify_x_to_y", {"inputs": serialized_examples}),
        ],
    )


def set_keras_weights(model, seed):
    """Replace initializer output with seeded values so the export is reproducible."""
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.standard_normal(w.shape) * 0.5).astype(np.float32) for w in model.get_weights()])


def build_keras_export(model_dir):
    keras.utils.set_random_seed(6)
    inp = keras.Input(shape=(5,), name="x", dtype="float32")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(inp)
    out = keras.layers.Dense(2, name="out")(h)
    model = keras.Model(inp, out, name="keras_export")
    set_keras_weights(model, 6)
    model.export(str(model_dir), format="tf_saved_model", verbose=False)
    _, sigs = describe_model(model_dir)
    SUMMARY.append(f"keras_export: model.export signatures = {sorted(sigs)}")
    rng = np.random.default_rng(60)
    reqs = []
    for name in sorted(sigs):
        key = next(iter(sigs[name]["inputs"]))
        reqs.append((name, {key: rng.standard_normal((1, 5)).astype(np.float32)}))
        reqs.append((name, {key: rng.standard_normal((3, 5)).astype(np.float32)}))
    return run_tf2(model_dir, reqs)


def build_keras_module(model_dir):
    # The known trap (DESIGN.md): a Keras 3 model wrapped in a plain tf.Module and saved
    # with tf.saved_model.save loads and runs in Python, but through the C API its run
    # fails with "Could not find variable ...". The goldens show what Python computes.
    keras.utils.set_random_seed(7)
    inp = keras.Input(shape=(3,), name="x", dtype="float32")
    out = keras.layers.Dense(2, name="dense")(inp)
    model = keras.Model(inp, out, name="keras_module")
    set_keras_weights(model, 7)

    class Wrapped(tf.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        @tf.function(input_signature=[spec([None, 3], tf.float32, "x")])
        def serve(self, x):
            return {"y": self.m(x)}

    w = Wrapped(model)
    tf.saved_model.save(w, str(model_dir), signatures={"serving_default": w.serve})
    return run_tf2(model_dir, [("serving_default", {"x": arr([[1, 2, 3]], "float32")})])


def build_conv(model_dir):
    keras.utils.set_random_seed(8)
    inp = keras.Input(shape=(8, 8, 3), name="image", dtype="float32")
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inp)
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(4, name="logits")(h)
    model = keras.Model(inp, out, name="conv")
    set_keras_weights(model, 8)
    model.export(str(model_dir), format="tf_saved_model", verbose=False)
    _, sigs = describe_model(model_dir)
    SUMMARY.append(f"conv: model.export signatures = {sorted(sigs)}")
    rng = np.random.default_rng(80)
    x = rng.uniform(-1.0, 1.0, (2, 8, 8, 3)).astype(np.float32)
    reqs = [(name, {next(iter(sigs[name]["inputs"])): x}) for name in sorted(sigs)]
    return run_tf2(model_dir, reqs)


DTYPE_INPUTS = [
    ("f32", tf.float32),
    ("f64", tf.float64),
    ("i8", tf.int8),
    ("i16", tf.int16),
    ("i32", tf.int32),
    ("i64", tf.int64),
    ("u8", tf.uint8),
    ("u16", tf.uint16),
    ("u32", tf.uint32),
    ("u64", tf.uint64),
    ("b", tf.bool),
    ("f16", tf.float16),
    ("bf16", tf.bfloat16),
    ("s", tf.string),
]
TRANSFORM_KEYS = ["f32", "f64", "i32", "i64", "u8", "b", "s", "f16", "bf16"]


def build_dtypes(model_dir):
    echo_specs = [spec([None], dt, k) for k, dt in DTYPE_INPUTS]
    tdt = dict(DTYPE_INPUTS)
    transform_specs = [spec([None], tdt[k], k) for k in TRANSFORM_KEYS]

    class Dtypes(tf.Module):
        @tf.function(input_signature=echo_specs)
        def echo(self, f32, f64, i8, i16, i32, i64, u8, u16, u32, u64, b, f16, bf16, s):
            args = dict(f32=f32, f64=f64, i8=i8, i16=i16, i32=i32, i64=i64, u8=u8, u16=u16,
                        u32=u32, u64=u64, b=b, f16=f16, bf16=bf16, s=s)
            return {f"{k}_out": tf.identity(v) for k, v in args.items()}

        @tf.function(input_signature=transform_specs)
        def transform(self, f32, f64, i32, i64, u8, b, s, f16, bf16):
            return {
                "f32_out": f32 * 2,
                "f64_out": f64 * 2,
                "i32_out": i32 + 1,
                "i64_out": i64 + 1,
                # uint8 arithmetic kernels are sparse on CPU; widen, add, narrow (wraps 255 -> 0).
                "u8_out": tf.cast(tf.cast(u8, tf.int32) + 1, tf.uint8),
                "b_out": tf.logical_not(b),
                "s_out": tf.strings.upper(s),
                "f16_out": f16 * 2,
                "bf16_out": bf16 * 2,
            }

        @tf.function(input_signature=[spec([], tf.float32, "x")])
        def scalar(self, x):
            return {"y": x * 3}

    m = Dtypes()
    tf.saved_model.save(
        m, str(model_dir), signatures={"serving_default": m.echo, "transform": m.transform, "scalar": m.scalar}
    )

    u64_max = np.iinfo(np.uint64).max
    values = {
        "f32": arr([0.1, -1.5, 3.4028234663852886e38, 1e-45], "float32"),
        "f64": arr([0.1, -2.5, 1.7976931348623157e308 / 4, 5e-324], "float64"),
        "i8": arr([-128, 127, 0, -1], "int8"),
        "i16": arr([-32768, 32767, 12345], "int16"),
        "i32": arr([-2147483648, 2147483646, 7], "int32"),
        "i64": arr([-9223372036854775808, 9007199254740993, 9223372036854775806], "int64"),
        "u8": arr([0, 200, 255], "uint8"),
        "u16": arr([0, 65535, 40000], "uint16"),
        "u32": arr([0, 4294967295, 3000000000], "uint32"),
        "u64": arr([0, u64_max, 18446744073709551557, 9007199254740993], "uint64"),
        "b": arr([True, False, True], "bool"),
        "f16": arr([1.5, -0.25, 1000.0, 6.1035156e-05], "float16"),
        "bf16": arr([1.5, -2.0, 3.140625, 1e30], "bfloat16"),
        "s": arr(["hello", "", "héllo", b"bin\x00\xffary"], "string"),
    }
    # Doubling f32 max would give Inf, and TF's CPU kernels flush denormal results to zero,
    # so transform gets in-range, normal floats (the echo signature keeps the extremes).
    transform_values = {k: values[k] for k in TRANSFORM_KEYS}
    transform_values["f32"] = arr([0.1, -1.5, 1e30, 1e-30], "float32")
    transform_values["f64"] = arr([0.1, -2.5, 1e300, 1e-300], "float64")
    empty = {k: arr([], dt.name if dt != tf.string else "string") for k, dt in DTYPE_INPUTS}
    return run_tf2(
        model_dir,
        [
            ("serving_default", values),
            ("serving_default", empty),
            ("transform", transform_values),
            ("transform", {k: empty[k] for k in TRANSFORM_KEYS}),
            ("scalar", {"x": arr(2.5, "float32")}),
            ("scalar", {"x": arr(-0.1, "float32")}),
        ],
    )


def build_batching(model_dir):
    """Signatures for dynamic batching: one that fails on one input value (13), one whose output
    rows do not follow its input rows, one with a fixed batch dimension, two inputs, and one
    whose run time its input sets (spin)."""

    class Batching(tf.Module):
        @tf.function(input_signature=[spec([None, 2], tf.float32, "x")])
        def serve(self, x):
            # Fails the whole run when any element is 13: the "poison" request of a batch.
            check = tf.debugging.Assert(tf.reduce_all(tf.not_equal(x, 13.0)), ["x holds 13"])
            with tf.control_dependencies([check]):
                return {"y": x * 2.0 + 1.0, "row_sum": tf.reduce_sum(x, axis=1)}

        @tf.function(input_signature=[spec([None, 2], tf.float32, "x")])
        def halve(self, x):
            # Declared [None, 2] but keeps only the first half of the rows.
            return {"y": x[: tf.shape(x)[0] // 2]}

        @tf.function(input_signature=[spec([1, 2], tf.float32, "x")])
        def fixed(self, x):
            return {"y": x + 1.0}

        @tf.function(input_signature=[spec([None, 2], tf.float32, "x")])
        def spin(self, x):
            # Runs for as long as its largest x[:, 1] says (that many 128x128 matmuls in a While,
            # which a run timeout stops with an inter-op pool): a batch as slow as its slowest row.
            n = tf.cast(tf.reduce_max(tf.maximum(x[:, 1], 0.0)), tf.int32)
            m = tf.ones([128, 128]) / 256.0

            def body(k, v):
                return k + 1, tf.tanh(tf.matmul(v, m) + 0.1)

            _, v = tf.while_loop(lambda k, v: k < n, body, [tf.constant(0), tf.ones([128, 128])])
            with tf.control_dependencies([v]):
                return {"y": x * 2.0 + 1.0}

        @tf.function(input_signature=[spec([None, None], tf.int32, "ids"), spec([None], tf.string, "tag")])
        def pair(self, ids, tag):
            return {"total": tf.reduce_sum(ids, axis=1), "tag": tf.strings.join([tag, "!"]), "ids": ids * 10}

    m = Batching()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve, "halve": m.halve, "fixed": m.fixed, "pair": m.pair, "spin": m.spin})
    return run_tf2(model_dir, [
        ("serving_default", {"x": arr([[1, 2], [3, 4]], "float32")}),
        ("pair", {"ids": arr([[1, 2, 0], [3, 4, 5]], "int32"), "tag": arr(["a", "bc"], "string")}),
    ])


def build_example_a(model_dir):
    class CelsiusToFahrenheit(tf.Module):
        def __init__(self):
            super().__init__()
            self.slope = tf.Variable(1.8, dtype=tf.float32, name="slope")
            self.offset = tf.Variable(32.0, dtype=tf.float32, name="offset")

        @tf.function(input_signature=[spec([None], tf.float32, "celsius")])
        def serve(self, celsius):
            return {"fahrenheit": celsius * self.slope + self.offset}

    m = CelsiusToFahrenheit()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    return run_tf2(
        model_dir,
        [
            ("serving_default", {"celsius": arr([-40.0, 0.0, 37.0, 100.0], "float32")}),
            ("serving_default", {"celsius": arr([21.5], "float32")}),
        ],
    )


def build_example_b(model_dir):
    class Classifier(tf.Module):
        def __init__(self):
            super().__init__()
            rng = np.random.default_rng(9)
            self.w = tf.Variable(rng.standard_normal((3, 2)).astype(np.float32), name="w")
            self.b = tf.Variable(np.array([0.25, -0.25], np.float32), name="b")

        @tf.function(input_signature=[spec([None, 3], tf.float32, "features")])
        def serve(self, features):
            logits = tf.matmul(features, self.w) + self.b
            return {"probabilities": tf.nn.softmax(logits), "label": tf.argmax(logits, axis=1, output_type=tf.int64)}

    m = Classifier()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    rng = np.random.default_rng(90)
    return run_tf2(
        model_dir,
        [
            ("serving_default", {"features": arr([[1.0, 0.0, -1.0]], "float32")}),
            ("serving_default", {"features": rng.standard_normal((4, 3)).astype(np.float32)}),
        ],
    )


# name -> (builder, model dir relative to out root, golden path relative to out root)
def build_mlp(model_dir):
    # Benchmark model (not committed): 512 -> 1024 -> 1024 -> 10 with relu, ~6 MB of weights.
    rng = np.random.default_rng(11)

    class Mlp(tf.Module):
        def __init__(self):
            super().__init__()
            sizes = [512, 1024, 1024, 10]
            self.ws = [tf.Variable((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), name=f"w{i}")
                       for i, (a, b) in enumerate(zip(sizes, sizes[1:]))]
            self.bs = [tf.Variable(np.zeros(b, np.float32), name=f"b{i}") for i, b in enumerate(sizes[1:])]

        @tf.function(input_signature=[spec([None, 512], tf.float32, "x")])
        def serve(self, x):
            h = x
            for i, (w, b) in enumerate(zip(self.ws, self.bs)):
                h = tf.matmul(h, w) + b
                if i < len(self.ws) - 1:
                    h = tf.nn.relu(h)
            return {"y": h}

    m = Mlp()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    return run_tf2(model_dir, [("serving_default", {"x": rng.standard_normal((2, 512)).astype(np.float32)})])


def build_big_io(model_dir):
    # Benchmark model (not committed): 4 MiB in, 4 MiB out per row, so copies dominate.
    class BigIo(tf.Module):
        @tf.function(input_signature=[spec([None, 1048576], tf.float32, "x")])
        def serve(self, x):
            return {"y": x * 2.0}

    m = BigIo()
    tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.serve})
    return []  # a 1M-element golden is no use; y = 2x is exact in float32

def build_file_io(model_dir):
    """Signatures that touch the file system: the op policy (opPolicy) must refuse them at load.
    read_file returns the contents of the file named in its input (ReadFile inside the traced
    function); write_file writes its input to a path (WriteFile hangs only on the function's
    control outputs: no output depends on it)."""

    class FileIO(tf.Module):
        @tf.function(input_signature=[spec([], tf.string, "path")])
        def read(self, path):
            return {"contents": tf.io.read_file(path)}

        @tf.function(input_signature=[spec([], tf.string, "path"), spec([], tf.string, "contents")])
        def write(self, path, contents):
            tf.io.write_file(path, contents)
            return {"length": tf.strings.length(contents)}

    m = FileIO()
    tf.saved_model.save(m, str(model_dir), signatures={"read_file": m.read, "write_file": m.write})
    # No cases: a case would bake a path of this machine into golden.json.
    return []


def build_runaway(model_dir):
    """Ordinary ops used without bound: fill allocates n*n*n float32 (n = 800: 2 GiB) from one
    int32; forever loops while x >= 0 (never ends for x >= 0). For run limits, not the op policy."""

    class Runaway(tf.Module):
        @tf.function(input_signature=[spec([], tf.int32, "n")])
        def fill(self, n):
            return {"total": tf.reduce_sum(tf.fill(tf.stack([n, n, n]), 1.0))}

        @tf.function(input_signature=[spec([], tf.float32, "x")])
        def forever(self, x):
            i, _ = tf.while_loop(lambda i, v: tf.greater_equal(v, 0.0), lambda i, v: (i + 1, v), [tf.constant(0, tf.int64), x])
            return {"steps": i}

    m = Runaway()
    tf.saved_model.save(m, str(model_dir), signatures={"fill": m.fill, "forever": m.forever})
    return run_tf2(model_dir, [
        ("fill", {"n": arr(3, "int32")}),
        ("forever", {"x": arr(-1.0, "float32")}),
    ])


def build_init_writes(model_dir):
    """A TF1 graph whose main_op (run by TensorFlow's loader at load, before any signature)
    writes a file next to its asset: model/assets/marker.txt.written. opPolicy must refuse it
    before TensorFlow sees the graph."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        with open("marker.txt", "w") as f:
            f.write("marker\n")
        graph = tf.Graph()
        with graph.as_default():
            x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
            y = tf.identity(x * 2.0, name="y")
            asset = tf.constant("marker.txt", name="marker_asset")
            tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS, asset)
            write = tf.io.write_file(tf.strings.join([asset, ".written"]), "written at load", name="write_at_load")
            sig = tf.compat.v1.saved_model.signature_def_utils.predict_signature_def(inputs={"x": x}, outputs={"y": y})
            with tf.compat.v1.Session(graph=graph) as sess:
                builder = tf.compat.v1.saved_model.Builder(str(model_dir))
                builder.add_meta_graph_and_variables(
                    sess, [tf.compat.v1.saved_model.tag_constants.SERVING],
                    signature_def_map={"serving_default": sig},
                    assets_collection=tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.ASSET_FILEPATHS),
                    main_op=tf.group(write, name="main_op"),
                    strip_default_attrs=True,
                )
                builder.save()
    assert (Path(model_dir) / "assets" / "marker.txt").is_file(), "marker asset was not copied"
    written = Path(model_dir) / "assets" / "marker.txt.written"
    cases = run_tf1(model_dir, ["serve"], [("serving_default", {"x": arr([1, 2], "float32")})])
    # TensorFlow's loader ran the main op: proof that the graph does write at load. Not shipped.
    assert written.is_file(), "the main op did not write at load"
    written.unlink()
    return cases

def build_tf2_vocab(model_dir):
    """A TF2 lookup table initialized from a vocabulary asset by the init op (TF2's
    __saved_model_init_op): opPolicy 'serve' must load it (the file is the model's own asset)."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        with open("vocab.txt", "w") as f:
            f.write("apple\nbanana\ncherry\n")

        class Vocab(tf.Module):
            def __init__(self):
                super().__init__()
                init = tf.lookup.TextFileInitializer(
                    "vocab.txt", tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER
                )
                self.table = tf.lookup.StaticHashTable(init, default_value=-1)

            @tf.function(input_signature=[spec([None], tf.string, "words")])
            def lookup(self, words):
                return {"ids": self.table.lookup(words)}

        m = Vocab()
        tf.saved_model.save(m, str(model_dir), signatures={"serving_default": m.lookup})
    assert (Path(model_dir) / "assets" / "vocab.txt").is_file(), "vocab asset was not copied"
    return run_tf2(model_dir, [("serving_default", {"words": arr(["banana", "kiwi", "apple"], "string")})])


FIXTURES = {
    "tiny": (build_tiny, "test/fixtures/tiny/model", "test/fixtures/tiny/golden.json"),
    "ints": (build_ints, "test/fixtures/ints/model", "test/fixtures/ints/golden.json"),
    "reshape": (build_reshape, "test/fixtures/reshape/model", "test/fixtures/reshape/golden.json"),
    "slow": (build_slow, "test/fixtures/slow/model", "test/fixtures/slow/golden.json"),
    "multi_sig": (build_multi_sig, "test/fixtures/multi_sig/model", "test/fixtures/multi_sig/golden.json"),
    "tf1_vocab": (build_tf1_vocab, "test/fixtures/tf1_vocab/model", "test/fixtures/tf1_vocab/golden.json"),
    "keras_export": (build_keras_export, "test/fixtures/keras_export/model", "test/fixtures/keras_export/golden.json"),
    "dtypes": (build_dtypes, "test/fixtures/dtypes/model", "test/fixtures/dtypes/golden.json"),
    "keras_module": (build_keras_module, "test/fixtures/keras_module/model", "test/fixtures/keras_module/golden.json"),
    "conv": (build_conv, "test/fixtures/conv/model", "test/fixtures/conv/golden.json"),
    "counter": (build_counter, "test/fixtures/counter/model", "test/fixtures/counter/golden.json"),
    "queue": (build_queue, "test/fixtures/queue/model", "test/fixtures/queue/golden.json"),
    "tagless": (build_tagless, "test/fixtures/tagless/model", "test/fixtures/tagless/golden.json"),
    "passthrough": (build_passthrough, "test/fixtures/passthrough/model", "test/fixtures/passthrough/golden.json"),
    "composite": (build_composite, "test/fixtures/composite/model", "test/fixtures/composite/golden.json"),
    "shared_outputs": (build_shared_outputs, "test/fixtures/shared_outputs/model", "test/fixtures/shared_outputs/golden.json"),
    "classify": (build_classify, "test/fixtures/classify/model", "test/fixtures/classify/golden.json"),
    "half_plus_two": (build_half_plus_two, "test/fixtures/half_plus_two/model", "test/fixtures/half_plus_two/golden.json"),
    "half_plus_three": (build_half_plus_three, "test/fixtures/half_plus_three/model", "test/fixtures/half_plus_three/golden.json"),
    "half_plus_two_tf2": (build_half_plus_two_tf2, "test/fixtures/half_plus_two_tf2/model", "test/fixtures/half_plus_two_tf2/golden.json"),
    "custom_op": (build_custom_op, "test/fixtures/custom_op/model", "test/fixtures/custom_op/golden.json"),
    "batching": (build_batching, "test/fixtures/batching/model", "test/fixtures/batching/golden.json"),
    "file_io": (build_file_io, "test/fixtures/file_io/model", "test/fixtures/file_io/golden.json"),
    "runaway": (build_runaway, "test/fixtures/runaway/model", "test/fixtures/runaway/golden.json"),
    "init_writes": (build_init_writes, "test/fixtures/init_writes/model", "test/fixtures/init_writes/golden.json"),
    "tf2_vocab": (build_tf2_vocab, "test/fixtures/tf2_vocab/model", "test/fixtures/tf2_vocab/golden.json"),
    "a": (build_example_a, "examples/models/a", "examples/models/a.golden.json"),
    "b": (build_example_b, "examples/models/b", "examples/models/b.golden.json"),
}

SUMMARY = []
# Fixtures whose values are exact by construction and too big for golden.json.
NO_CASES = {"shared_outputs", "file_io", "queue"}


def dir_bytes(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def validate_golden(path, allow_empty=False):
    """Re-read golden.json and check it against the documented format."""
    doc = json.loads(Path(path).read_text())
    assert set(doc) == {"tags", "signatures", "cases"}, set(doc)
    assert doc["tags"] and all(isinstance(t, list) and all(isinstance(s, str) for s in t) for t in doc["tags"])
    for name, sd in doc["signatures"].items():
        assert set(sd) == {"inputs", "outputs", "methodName"}, (name, set(sd))
        for side in ("inputs", "outputs"):
            for k, ti in flat_specs(sd[side]).items():
                assert set(ti) == {"name", "dtype", "shape"} and ti["dtype"] in NP_DTYPES, (name, k, ti)
                assert ti["shape"] is None or all(isinstance(d, int) and d >= -1 for d in ti["shape"])
    assert doc["cases"] or allow_empty, "no cases"
    for c in doc["cases"]:
        assert set(c) == {"signature", "inputs", "outputs"} and c["signature"] in doc["signatures"]
        for side in ("inputs", "outputs"):
            for k, t in c[side].items():
                assert set(t) == {"dtype", "shape", "data"} and t["dtype"] in NP_DTYPES, (k, t.keys())
                assert len(t["data"]) == int(np.prod(t["shape"], dtype=np.int64)), k
                d = t["dtype"]
                for v in t["data"]:
                    if d in ("float32", "float64"):
                        assert isinstance(v, (int, float)) and not isinstance(v, bool)
                    elif d in ("int64", "uint64"):
                        assert isinstance(v, str) and str(int(v)) == v
                    elif d == "bool":
                        assert isinstance(v, bool)
                    elif d == "string":
                        base64.b64decode(v, validate=True)
                    else:
                        assert isinstance(v, int) and not isinstance(v, bool)
    return doc


# Generated only on request (--bench): too big to commit, rebuilt by `npm run bench`.
BENCH_MODELS = {
    "mlp": (build_mlp, "bench/.cache/models/mlp/model", "bench/.cache/models/mlp/golden.json"),
    "big_io": (build_big_io, "bench/.cache/models/big_io/model", "bench/.cache/models/big_io/golden.json"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated subset of: " + ",".join(FIXTURES))
    ap.add_argument("--bench", action="store_true", help="build the benchmark models (" + ",".join(BENCH_MODELS) + ") instead")
    ap.add_argument("--out-root", default=str(Path(__file__).resolve().parent.parent),
                    help="root under which test/fixtures and examples/models are written (default: repo root)")
    args = ap.parse_args()

    table = BENCH_MODELS if args.bench else FIXTURES
    names = list(table)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in table]
        if unknown:
            ap.error(f"unknown fixture(s) {unknown}; choose from {list(table)}")

    root = Path(args.out_root).resolve()
    tf.random.set_seed(0)  # belt and braces: no builder should depend on TF's global RNG
    failures = 0
    for name in names:
        build, model_rel, golden_rel = table[name]
        model_dir, golden = root / model_rel, root / golden_rel
        # Start clean so stale variables/assets from an older layout cannot survive.
        shutil.rmtree(model_dir, ignore_errors=True)
        golden.unlink(missing_ok=True)
        model_dir.parent.mkdir(parents=True, exist_ok=True)
        cases = build(model_dir)
        write_golden(model_dir, golden, cases)
        validate_golden(golden, allow_empty=args.bench or name in NO_CASES)
        size = dir_bytes(model_dir) + golden.stat().st_size
        too_big = size >= MAX_FIXTURE_BYTES and not args.bench
        status = "TOO BIG" if too_big else "ok"
        failures += too_big
        print(f"[{name}] {model_rel} + {golden_rel}: {size / 1024:.1f} KiB, {len(cases)} cases ({status})", flush=True)

    for line in SUMMARY:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
