#!/usr/bin/env bash
# What is left of Kingma et al.'s semi-supervised Table 1 on MNIST, one run after another (many
# hours on 2 CPU cores). Every step is a resumable run directory: run the same command again
# and it continues where it stopped, skipping what is finished. Results:
# runs/ssl_table/*/results.md and results.json (with curves and error-vs-epoch and
# reliability PNGs). The runs already in docs/semi_supervised/ (M2 and M1 + M2 at 100 labels,
# 5 draws each; the IWAE M2, draws 1-3; the M1 probes) are not here; a session's machine may
# start without runs/, so M1 comes first:
#   1. M1 (vaejax/configs/m1.py) into runs/m1 (~50 minutes), the features of every M1 + M2;
#   2. M1 + M2 (semi_supervised_m1m2_fast.py, 500 hidden units) at 600, 1000 and 3000 labels,
#      draw 0 of each (~20 minutes a draw);
#   3. M2 (the quick config's settings for 200 epochs, 300 hidden units: the 100-label row's)
#      at 600, 1000 and 3000 labels, draw 0 (~35 minutes a draw alone);
#   4. M1 + M2 draws 1-4 at 600, 1000 and 3000 labels.
set -uo pipefail
source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
py=.venv/bin/python
out=runs/ssl_table
m2_long=(--config=vaejax/configs/semi_supervised_quick.py --config.num_epochs=200)
m1m2_fast=(--config=vaejax/configs/semi_supervised_m1m2_fast.py --config.hidden_units=500)
step() { echo "== $(date -u +%FT%TZ) $*"; "$py" "$@" || echo "== failed: $*"; }

step experiments/train.py --workdir=runs/m1 --config=vaejax/configs/m1.py
for n in 600 1000 3000; do
  step experiments/semi_supervised.py --workdir="$out/m1m2_fast" --model=m1m2 --seeds=0 \
      "${m1m2_fast[@]}" --config.num_labels="$n"
done
for n in 600 1000 3000; do
  step experiments/semi_supervised.py --workdir="$out/m2_grey" --model=m2 --seeds=0 \
      "${m2_long[@]}" --config.num_labels="$n"
done
for n in 600 1000 3000; do  # Draw 0 is skipped: finished above.
  step experiments/semi_supervised.py --workdir="$out/m1m2_fast" --model=m1m2 \
      --seeds=0,1,2,3,4 "${m1m2_fast[@]}" --config.num_labels="$n"
done
