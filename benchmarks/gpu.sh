#!/usr/bin/env bash
# GPU checks and benchmarks in one go, for a machine with a CUDA GPU: the unit tests that touch the device
# (features on cuda, training under the Trainer on the GPU), then bench_data.py and bench_training.py (demo model
# and AST-base shape) with --device cuda, then bench_study.py (one run at the full study's shapes, the grid's wall
# time). Every log goes to the folder given (default gpu-logs/).
# Usage: bash benchmarks/gpu.sh [LOG_DIR [STEP...]]     (from the repository root, with astgenre importable)
# STEP: tests, bench_data, train_demo, train_base, study (default: all). The first four took about 6 minutes on an
# H200, study is limited to 7: within one 8-minute call run `bash benchmarks/gpu.sh gpu-logs study`, the rest apart.
set -u
logs=${1:-gpu-logs}
shift $(($# > 0 ? 1 : 0))
steps=${*:-tests bench_data train_demo train_base study}
mkdir -p "$logs"
export PYTHONUNBUFFERED=1
step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $logs/NAME.txt, never stop the script
    local name=$1 limit=$2
    shift 2
    case " $steps " in *" $name "*) ;; *) return 0 ;; esac
    echo "== $name: $*"
    local start=$SECONDS
    timeout "$limit" "$@" >"$logs/$name.txt" 2>&1
    echo "   exit $? after $((SECONDS - start)) s"
    tail -n 40 "$logs/$name.txt"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$logs/gpu.txt"
python3 -c "import torch, transformers, av, soxr; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'| transformers', transformers.__version__, '| av', av.__version__, '| soxr', soxr.__version__)" | tee -a "$logs/gpu.txt"
step tests 120 python3 -m pytest -q -p no:cacheprovider tests/test_features.py tests/test_training.py
step bench_data 70 python3 benchmarks/bench_data.py --device cuda
step train_demo 150 python3 benchmarks/bench_training.py --model demo --device cuda --steps 20 --epochs 1 --json "$logs/train_demo.json"
step train_base 180 python3 benchmarks/bench_training.py --model base --device cuda --steps 25 \
    --json "$logs/train_base.json"
step study 420 python3 benchmarks/bench_study.py --json "$logs/study.json"
