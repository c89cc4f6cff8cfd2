#!/usr/bin/env bash
# What is left of Kingma et al.'s semi-supervised Table 1 on MNIST, one run after another (many
# hours on 2 CPU cores). Every step is a resumable run directory: run the same command again
# and it continues where it stopped, skipping what is finished. Results:
# runs/ssl_table/*/results.md and results.json (with curves and error-vs-epoch and
# reliability PNGs). The runs already in docs/semi_supervised/ are not here (M2 and M1 + M2 at
# 100 labels, 5 draws each; M1 + M2 at 600 labels with 500 hidden units, at 1000 and 3000 with
# 300, draw 0 each; the IWAE M2, draws 1-3; the M1 probes). A session's machine may start
# without runs/, so what needs no M1 comes first:
#   1. M2 (the quick config's settings for 200 epochs, 300 hidden units: the 100-label row's)
#      at 600, 1000 and 3000 labels, draw 0 (~35 minutes a draw alone);
#   2. M1 (vaejax/configs/m1.py) into runs/m1 (~45 minutes), the features of every M1 + M2;
#   3. M1 + M2 (semi_supervised_m1m2_fast.py, 300 hidden units: the 100-label row's) at 600
#      labels, draw 0 (beside the 500-unit run in docs), then draws 1-4 at 1000 and 3000 labels
#      and 0-4 at 600 (~22 minutes a draw).
set -uo pipefail
source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
py=.venv/bin/python
out=runs/ssl_table
m2_long=(--config=vaejax/configs/semi_supervised_quick.py --config.num_epochs=200)
m1m2_fast=(--config=vaejax/configs/semi_supervised_m1m2_fast.py)
step() { echo "== $(date -u +%FT%TZ) $*"; "$py" "$@" || echo "== failed: $*"; }

for n in 600 1000 3000; do
  step experiments/semi_supervised.py --workdir="$out/m2_grey" --model=m2 --seeds=0 \
      "${m2_long[@]}" --config.num_labels="$n"
done
step experiments/train.py --workdir=runs/m1 --config=vaejax/configs/m1.py
step experiments/semi_supervised.py --workdir="$out/m1m2_fast300" --model=m1m2 --seeds=0 \
    "${m1m2_fast[@]}" --config.num_labels=600
for n_seeds in 1000:1,2,3,4 3000:1,2,3,4 600:0,1,2,3,4; do  # A finished draw is skipped.
  step experiments/semi_supervised.py --workdir="$out/m1m2_fast300" --model=m1m2 \
      --seeds="${n_seeds#*:}" "${m1m2_fast[@]}" --config.num_labels="${n_seeds%%:*}"
done
