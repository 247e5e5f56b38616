#!/usr/bin/env bash
# The GPU checks, in one run (docs/performance.md, "On a GPU"): what the
# machine has, the GPU-only tests (cuDNN on JAX, the torch loop on CUDA),
# then the cudnn suite of bench.py on every backend installed. Writes each
# part's output to $1 (default: the current folder) as it goes. Needs keras,
# pytest and hypothesis besides the backends; the kit from this checkout.
# About 5-8 minutes with the defaults (the timeouts below bound it at 10).
#
#     bash benchmarks/gpu.sh /tmp/gpu-run
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:-.}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # the kit from here
python=${PYTHON:-python3}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/machine.txt"
backends=()
for backend in tensorflow jax torch; do
    if "$python" -c "import $backend" 2>/dev/null; then backends+=("$backend"); fi
done
"$python" - <<'PY' 2>&1 | tee -a "$out/machine.txt"
import importlib
for name in ("keras", "tensorflow", "jax", "torch"):
    try:
        module = importlib.import_module(name)
    except ImportError:
        print(f"{name}: not installed")
        continue
    print(f"{name}: {module.__version__}")
    if name == "jax":
        print("  devices:", module.devices())
    if name == "torch":
        print("  cuda:", module.cuda.is_available(), "cudnn:", module.backends.cudnn.version())
PY
for backend in "${backends[@]}"; do
    tests=tests/test_jax_cudnn.py
    [ "$backend" = torch ] && tests=tests/test_torch_cuda.py
    [ "$backend" = tensorflow ] && continue  # Keras's own cuDNN path there
    KERAS_BACKEND=$backend timeout 120 "$python" -m pytest -q -p no:cacheprovider \
        -o addopts="-ra --strict-markers" "$tests" 2>&1 \
        | tee "$out/tests-$backend.txt" | tail -20
done
IFS=, eval 'list="${backends[*]}"'
[ ${#backends[@]} -gt 0 ] || { echo "no backend installed"; exit 1; }
timeout "${BENCH_TIMEOUT:-330}" "$python" benchmarks/bench.py --suite cudnn --backends "$list" \
    --shapes "${SHAPES:-small,large,gpu}" --repeats "${REPEATS:-7}" 2>&1 | tee "$out/bench.txt"
