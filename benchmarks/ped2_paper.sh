#!/bin/bash
# MemAE Table 2 on UCSD Ped2 at the paper's configuration, for AE and the best memory model,
# seeds 0-2, one row at a time (resumable: rerun the same command and finished rows stay)
# (issue #37, item 5). Sized for one H100 in ten minutes: the `paper-short` config (the paper's
# 256x256 frames, 96-128-256-256 net and N = 2000 on every 2nd training clip for 30 epochs),
# bf16 autocast and the channels-last layout. Anything after the fourth argument goes to the
# bench (e.g. `--epochs 1 --device cpu` to try it on a CPU with CONFIG=cpu-small).
#   usage: benchmarks/ped2_paper.sh [OUT] [DATA_DIR] [MEMORY_MODEL] [CONFIG] [bench options]
set -euo pipefail
out=${1:-runs/ped2_paper}
data=${2:-../shared/data/ucsd_ped2}
best=${3:-memae-pred}
config=${4:-paper-short}
shift $(( $# < 4 ? $# : 4 ))
fast=":precision=bf16:channels_last=1"
[ "$config" = "cpu-small" ] && fast=""  # a CPU try: fp32, the usual layout
for seed in 0 1 2; do
    memae bench video --dataset ped2 --data-dir "$data" --config "$config" --no-figures \
        --models "ae$fast,$best$fast" --seeds "$seed" --out "$out" "$@"
done
cat "$out/results.md"
