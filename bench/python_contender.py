"""Benchmark contender: Python TensorFlow. argv[1] is a JSON list of jobs; prints one
JSON line per job: {load_ms, wall_ms, calls, samples_us}. Modes: "tf1" (Session.run on
a tf.compat.v1.saved_model.loader.load graph, with the job's ConfigProto) and "tf2"
(the loaded SavedModel's signature function, eager)."""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.core.protobuf import config_pb2  # noqa: E402


def inputs(shape):
    n = int(np.prod(shape))
    return ((np.arange(n) % 97) / 97).astype(np.float32).reshape(shape)


def timed_loop(job, call):
    for _ in range(job["warmup"]):
        call()
    samples = []
    start = time.perf_counter()
    deadline = start + job["seconds"]
    while len(samples) < job["iterations"] and time.perf_counter() < deadline:
        a = time.perf_counter()
        call()
        samples.append((time.perf_counter() - a) * 1e6)
    return {"wall_ms": (time.perf_counter() - start) * 1e3, "calls": len(samples), "samples_us": samples}


def run_tf1(job):
    graph = tf.Graph()
    config = config_pb2.ConfigProto.FromString(bytes.fromhex(job.get("config", "")))
    with tf.compat.v1.Session(graph=graph, config=config) as sess:
        t0 = time.perf_counter()
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], job["model"])
        load_ms = (time.perf_counter() - t0) * 1e3
        sig = meta.signature_def[job["signature"]]
        feed = sig.inputs[job["input"]].name
        fetch = sig.outputs[job["output"]].name
        x = inputs(job["shape"])
        result = timed_loop(job, lambda: sess.run(fetch, {feed: x}))
    return {"load_ms": load_ms, **result}


def run_tf2(job):
    t0 = time.perf_counter()
    loaded = tf.saved_model.load(job["model"])
    load_ms = (time.perf_counter() - t0) * 1e3
    fn = loaded.signatures[job["signature"]]
    x = inputs(job["shape"])
    key, out = job["input"], job["output"]
    result = timed_loop(job, lambda: fn(**{key: tf.constant(x)})[out].numpy())
    return {"load_ms": load_ms, **result}


def main():
    for job in json.loads(sys.argv[1]):
        result = run_tf1(job) if job["mode"] == "tf1" else run_tf2(job)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
