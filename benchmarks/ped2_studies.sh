#!/usr/bin/env bash
# MemAE Table 4 (ablations) and Figure 7 (memory size N) on UCSD Ped2, `cpu` config, seeds 0-2.
# Resumable: rerun the same command and finished rows are kept. One seed of every row first,
# then the next seed. Usage: benchmarks/ped2_studies.sh [OUT_DIR] [DATA_DIR]
set -euo pipefail
out=${1:-runs}
data=${2:-../shared/data/ucsd_ped2}
table4=ae,ae-l1,memae-nonspar,memae-noshrink,memae-noentropy,memae
# five sizes over two orders of magnitude, 20-2000; N = 500 is Table 4's memae row
sizes=memae:mem_slots=20,memae:mem_slots=100,memae:mem_slots=1000,memae:mem_slots=2000
for seed in 0 1 2; do
    memae bench video --dataset ped2 --data-dir "$data" --config cpu --no-figures \
        --models "$table4" --seeds "$seed" --out "$out/ped2_table4"
    memae bench video --dataset ped2 --data-dir "$data" --config cpu --no-figures \
        --models "$sizes" --seeds "$seed" --out "$out/ped2_memory_size"
done
