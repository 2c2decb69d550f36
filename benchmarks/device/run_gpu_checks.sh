#!/usr/bin/env bash
# GPU checks for a task that is lent a CUDA machine (see benchmarks/device/README.md).
#
# Run from the repository root on the GPU machine, in one call of about 8 minutes:
#   bash benchmarks/device/run_gpu_checks.sh
# 1. installs what is missing (wheels carried in .whl/, else gattn from the checkout itself);
# 2. runs the cuda-marked tests (tests/cuda: float32 equivariance and special cases; the bf16 /
#    fp16 autocast errors measured and written to cuda_tolerances.json);
# 3. benchmarks/bench_gsa.py on CUDA (fused vs flex local attention, p4 and p4m, batch 8, p = 5);
# 4. `gattn bench --device cuda` (the whole suite).
# Results go to $OUT/benchmarks/results/ (or benchmarks/results/ when OUT is unset):
# <device>.json, <device>.md, gsa_cuda.json, gsa_cuda.md, cuda_tolerances.json, cuda_tests.log,
# env.txt. A stage that fails or runs out of its time is reported and the next one still runs;
# the exit status is that of the first failing stage.
set -uo pipefail
cd "$(dirname "$0")/../.."
export PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-python3}
RES=${OUT:-.}/benchmarks/results
mkdir -p "$RES"
# stages to run (a second call can redo one: STAGES=bench) and their time limits in seconds;
# with the environment (~30 s) the defaults sum to about 8 minutes
STAGES=${STAGES:-tests bench gsa}
T_TESTS=${T_TESTS:-180}
T_BENCH=${T_BENCH:-240}
T_GSA=${T_GSA:-50}
status=0
want() { case " $STAGES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
stage() {  # stage NAME SECONDS CMD...: run with a time limit, remember the first failure
    local name=$1 limit=$2 rc
    shift 2
    echo "== $name (limit ${limit}s) =="
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@"
    rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0))s =="
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
    return "$rc"
}

echo "== environment =="
{
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
    "$PY" -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda, torch.cuda.is_available())'
} | tee "$RES/env.txt"
if ! "$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "error: torch sees no CUDA device here; nothing to check" >&2
    exit 2
fi

echo "== install what is missing =="
if compgen -G ".whl/*.whl" >/dev/null; then  # wheels carried from the session's machine
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 3
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# gattn itself from this checkout (no dependency resolution: the image's torch stays)
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
missing=$("$PY" - <<'EOF'
import importlib.util
need = ["torch", "numpy", "scipy", "sympy", "tqdm", "matplotlib", "pytest", "hypothesis"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
)
if [ -n "$missing" ]; then
    echo "error: missing Python packages: $missing (carry them as wheels in .whl/," \
        "benchmarks/device/README.md)" >&2
    exit 3
fi
"$PY" -c 'import gattn, torch.nn.attention.flex_attention; print("gattn", gattn.__version__)' \
    | tee -a "$RES/env.txt" || exit 3

if want tests; then  # piped into tee: the stage runs in a subshell, read its status here
    stage "cuda-marked tests" "$T_TESTS" env GATTN_CUDA_TOLERANCES="$RES/cuda_tolerances.json" \
        "$PY" -m pytest -q -p no:cacheprovider -m cuda -rs tests/cuda \
        2>&1 | tee "$RES/cuda_tests.log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then status=$rc; fi
fi
# the suite writes its files only at its end: it runs before the shorter GSA comparison
if want bench; then
    stage "gattn bench --device cuda" "$T_BENCH" "$PY" -m gattn.bench --device cuda --quiet \
        --repeats 5 --out "$RES"
fi
if want gsa; then
    stage "bench_gsa on cuda" "$T_GSA" "$PY" benchmarks/bench_gsa.py --device cuda \
        --groups p4 p4m --impls fused fused_recompute flex fused_eval flex_eval --steps 5 \
        --out "$RES/gsa_cuda.json"
fi

ls -l "$RES"
exit "$status"
