"""The Python contender of bench/serve.js: a FastAPI app on uvicorn that answers TensorFlow
Serving's predict request ({"instances": [...]}) with TensorFlow (a loaded SavedModel's
serving signature), as a Python service would be written without TensorFlow Serving.
argv: port, then name=dir pairs. Prints "ready" once listening."""
import os
import sys
from contextlib import asynccontextmanager

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, HTTPException, Request  # noqa: E402

port = int(sys.argv[1])
models = {}
for pair in sys.argv[2:]:
    name, path = pair.split("=", 1)
    fn = tf.saved_model.load(path).signatures["serving_default"]
    key, spec = next(iter(fn.structured_input_signature[1].items()))
    models[name] = (fn, key, spec.dtype)

@asynccontextmanager
async def lifespan(_app):
    # The driver also waits for the port to answer: uvicorn binds after startup.
    print("ready", flush=True)
    yield


app = FastAPI(lifespan=lifespan)


@app.post("/v1/models/{target}")
async def predict(target: str, request: Request):
    name, _, verb = target.partition(":")
    if verb != "predict" or name not in models:
        raise HTTPException(status_code=404, detail="not found")
    fn, key, dtype = models[name]
    body = await request.json()
    out = fn(**{key: tf.constant(np.asarray(body["instances"]), dtype=dtype)})
    value = next(iter(out.values())).numpy()
    return {"predictions": value.tolist()}


config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
server = uvicorn.Server(config)


server.run()
