#!/usr/bin/env bash
# The CUDA check in one command, for a machine where onnxruntime-gpu's CUDA provider works:
# the pipeline trained and exported on the GPU, parity with TF32 off, on, and for the fp16
# export, the GPU bench at fp32, TF32, fp16 and bf16, training steps/s, then the whole test
# suite (CUDA tests included), each step's log, JSON and exit status under OUT_DIR, and a
# summary (OUT_DIR/summary.json, also printed).
#
#   benchmarks/gpu_check.sh OUT_DIR            # on the GPU machine, from the project root
#   GANPORT_CHECK_DEVICE=cpu benchmarks/gpu_check.sh OUT_DIR   # the same steps on a CPU box
#   (GANPORT_CHECK_SECONDS: the time budget, 360; GANPORT_CHECK_TESTS: what pytest runs, tests;
#   GANPORT_CHECK_WORKERS: pytest-xdist workers, when it is installed, half the cores)
#
# Steps go on after a failure, so one run shows everything; the exit status is 1 when any
# step failed. Sized for about 6 minutes on one H100: the suite runs last, under the time left.
set -uo pipefail
out=${1:?usage: benchmarks/gpu_check.sh OUT_DIR}
device=${GANPORT_CHECK_DEVICE:-cuda}
budget=${GANPORT_CHECK_SECONDS:-360}
mkdir -p "$out"
: >"$out/steps.jsonl"
started=$(date +%s)

step() { # step NAME COMMAND...: run it, log to OUT/NAME.log, record status and seconds
  local name=$1 begin rc
  shift
  begin=$(date +%s%N)
  "$@" >"$out/$name.log" 2>&1
  rc=$?
  printf '{"step": "%s", "rc": %d, "ms": %d}\n' "$name" "$rc" \
    "$((($(date +%s%N) - begin) / 1000000))" >>"$out/steps.jsonl"
  echo "$name: exit $rc"
}

run="$out/run"
step environment python -c "
import onnxruntime, torch, ganport
print('ganport', ganport.__version__, 'torch', torch.__version__, 'onnxruntime', onnxruntime.__version__)
print('providers', onnxruntime.get_available_providers())
print('torch cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
"
step pipeline ganport pipeline --epochs 5 --device "$device" --provider "$device" --out "$run"
step export-fp16 ganport export "$run/checkpoint.pt" --fp16 --out "$out/fp16"
step parity-fp32 ganport parity "$run/checkpoint.pt" "$run/onnx" --provider "$device" \
  --json "$out/parity-fp32.json"
if [ "$device" = cuda ]; then
  step parity-tf32 ganport parity "$run/checkpoint.pt" "$run/onnx" --provider cuda --tf32 \
    --json "$out/parity-tf32.json"
fi
step parity-fp16 ganport parity "$run/checkpoint.pt" "$out/fp16/generator_fp16.onnx" \
  --provider "$device" --json "$out/parity-fp16.json"
step bench ganport bench "$out/fp16" --provider "$device" --batch-sizes 1,64,256 \
  --json "$out/bench.json"
step training-speed python -m benchmarks.training_speed --device "$device" --steps 1000 --rounds 1
# With pytest-xdist the suite spreads over workers, each with its share of the cores (torch
# would otherwise start a thread per core in every worker); without it, one process.
parallel=() threads=$(nproc)
if python -c 'import xdist' 2>/dev/null; then
  workers=${GANPORT_CHECK_WORKERS:-$(($(nproc) / 2))}
  parallel=(-n "$workers") threads=$(($(nproc) / workers > 0 ? $(nproc) / workers : 1))
fi
left=$((budget - ($(date +%s) - started)))
step suite env OMP_NUM_THREADS="$threads" timeout --signal INT "$((left > 60 ? left : 60))" \
  python -m pytest -q -p no:cacheprovider "${parallel[@]}" --junitxml "$out/junit.xml" \
  ${GANPORT_CHECK_TESTS:-tests}

python - "$out" <<'PY'
import json, sys, xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])
steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
summary = {"steps": steps}
junit = out / "junit.xml"
if junit.exists():
    suite = ET.parse(junit).getroot().find("testsuite")
    summary["suite"] = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    summary["suite"]["failed"] = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
for name in ("parity-fp32", "parity-tf32", "parity-fp16"):
    path = out / f"{name}.json"
    if path.exists():
        report = json.loads(path.read_text())
        cases = report["cases"]
        summary[name] = {
            "passed": report["passed"],
            "providers": {name: tol["provider"] for name, tol in report["tolerances"].items()},
            "max_abs": max((c["comparison"] or {}).get("max_abs", 0.0) for c in cases),
            "failures": report["failures"],
        }
bench = out / "bench.json"
if bench.exists():
    summary["bench_median_ms"] = {
        model["file"]: {
            f"{cell['engine']} b{cell['batch']}": round(cell["latency"]["median_ms"], 4)
            for cell in model["cells"]
            if cell["latency"]
        }
        for model in json.loads(bench.read_text())["models"]
    }
speed = out / "training-speed.log"
if speed.exists():
    summary["training_speed"] = speed.read_text().strip().splitlines()[-1:]
for log in out.glob("*.log"):
    errors = [line for line in log.read_text(errors="replace").splitlines() if "cudnn_frontend" in line]
    if errors:
        summary.setdefault("cudnn_frontend_lines", {})[log.stem] = len(errors)
(out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
PY
! grep -q '"rc": [1-9]' "$out/steps.jsonl"
