#!/usr/bin/env bash
# What is left of Kingma et al.'s semi-supervised Table 1 on MNIST, one run after another (many
# hours on 2 CPU cores). Every step is a resumable run directory: run the same command again
# and it continues where it stopped, skipping what is finished. Results:
# runs/ssl_table/*/results.md and results.json (with curves and error-vs-epoch and
# reliability PNGs). The runs already in docs/semi_supervised/ are not here (M2 and M1 + M2 at
# 100 labels, 5 draws each; M1 + M2 at 600 labels (500 hidden units) and 1000 (300, with 1
# and with 10 labelled images a step), draw 0; the IWAE M2, draws 1-3; the M1 probes). A
# session's machine may start without runs/, so what needs no M1 comes first:
#   1. M2 (the quick config's settings for 200 epochs, 300 hidden units: the 100-label row's)
#      at 600, 1000 and 3000 labels, draw 0 (~35 minutes a draw alone);
#   2. M1 (vaejax/configs/m1.py) into runs/m1 (~45 minutes), the features of every M1 + M2;
#   3. M1 + M2 (semi_supervised_m1m2_fast.py, 300 hidden units: the 100-label row's, with
#      N / 100 labelled and 500 - N / 100 unlabelled images a step: each labelled image once an
#      epoch, as in the released code, whose steps above 100 labels are half the size) at 3000
#      and 600 labels, draw 0, then draws 1-4 at 1000, 3000 and 600 labels (~23 minutes a draw).
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
labels_once_an_epoch() {  # N / 100 labelled and 500 - N / 100 unlabelled images a step.
  echo --config.num_labels="$1" --config.labelled_batch_size=$(($1 / 100)) \
      --config.batch_size=$((500 - $1 / 100))
}
for n_seeds in 3000:0 600:0 1000:1,2,3,4 3000:1,2,3,4 600:1,2,3,4; do  # Finished draws: skipped.
  n=${n_seeds%%:*} seeds=${n_seeds#*:}  # A folder per draw list: results.json keeps each.
  step experiments/semi_supervised.py --workdir="$out/m1m2_fast300_l$((n / 100))_${seeds//,/}" \
      --model=m1m2 --seeds="$seeds" "${m1m2_fast[@]}" $(labels_once_an_epoch "$n")
done
