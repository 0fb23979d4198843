"""Run ONNX models on whatever onnxruntime this interpreter has (1.15 and later), numpy only.

    python run_models.py JOBS.json

JOBS.json is a list of {"model": path, "input": path.npy, "output": path.npy}. Each model
runs on the CPU provider with its single input cast to the model's input type; its single
output is saved. A job that fails gets "error" written beside it in JOBS.json's answer,
printed to stdout as JSON: {"version": ..., "errors": {output: message}}.
This file runs in other environments: it imports nothing of ganport.
"""

import json
import sys

import numpy as np
import onnxruntime as ort

DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


def run(job):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        job["model"], sess_options=options, providers=["CPUExecutionProvider"]
    )
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    x = np.load(job["input"]).astype(DTYPES.get(inp.type, np.float32))
    (y,) = session.run([out.name], {inp.name: x})
    np.save(job["output"], np.asarray(y))


def main(path):
    with open(path) as f:
        jobs = json.load(f)
    errors = {}
    for job in jobs:
        try:
            run(job)
        except Exception as exc:  # any load or run failure is a result to report
            text = str(exc).strip()
            errors[job["output"]] = text.splitlines()[0] if text else type(exc).__name__
    print(json.dumps({"version": ort.__version__, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1])
