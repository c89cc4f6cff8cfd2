#!/usr/bin/env bash
# Kingma et al.'s semi-supervised Table 1 on MNIST and issue 16's other long runs, one after
# another (many hours on 2 CPU cores). Every step is a resumable run directory: run the same
# command again and it continues where it stopped, skipping what is finished. Results:
# runs/ssl_table/*/results.md and results.json (with curves and error-vs-epoch and
# reliability PNGs), runs/m1/features_*.json (the M1 probe along training). What is already in
# docs/semi_supervised/ is left out (a session's machine may start without runs/):
#   1. M2 at 100 labels with the quick config's settings for 200 epochs ($m2_long), draws 3-4
#      (draws 0-3 in docs; a finished draw is skipped);
#   2. the importance-weighted M2 (IWAE, K = 5), the quick config (40 epochs), draws 1-3: the
#      200-epoch M2's curves of the same draws (in docs) give K = 1 at the same updates and at
#      the same time (scripts/semi_supervised_budget.py);
#   3. M1 (vaejax/configs/m1.py) into runs/m1, and the logistic probe of its features (latent
#      means, the encoder's hidden layer) at every kept checkpoint (100 labels, draw 0), gathered
#      in runs/m1/probe_table.md;
#   4. M1 + M2 (semi_supervised_m1m2_fast.py, 500 hidden units) at 600, 1000 and 3000 labels,
#      draw 0 of each, then draws 0-4 of each (at 100 labels in docs);
#   5. M2 ($m2_long, 500 hidden units) at 600, 1000 and 3000 labels, draw 0;
#   6. the records of earlier findings: M1 + M2 with the released recipe
#      (semi_supervised_m1m2.py, 3000 epochs) and with the quick M2's batching
#      (semi_supervised_m1m2_parts.py), M2 with the `images` batching, draw 0.
set -uo pipefail
source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
py=.venv/bin/python
out=runs/ssl_table
m2_long=(--config=vaejax/configs/semi_supervised_quick.py --config.num_epochs=200)
m1m2_fast=(--config=vaejax/configs/semi_supervised_m1m2_fast.py --config.hidden_units=500)
step() { echo "== $(date -u +%FT%TZ) $*"; "$py" "$@" || echo "== failed: $*"; }

step experiments/semi_supervised.py --workdir="$out/m2_grey" --model=m2 --seeds=3,4 \
    "${m2_long[@]}"
step experiments/semi_supervised.py --workdir="$out/m2_iwae5" --model=m2 --seeds=1,2,3 \
    --config=vaejax/configs/semi_supervised_quick.py --config.objective=iwae \
    --config.num_samples=5
step experiments/train.py --workdir=runs/m1 --config=vaejax/configs/m1.py
for checkpoint in $(ls runs/m1/checkpoints 2>/dev/null | sort -n); do
  if ! ls runs/m1/features_n100_seed0_step"${checkpoint}"_released_b0_logistic.json >/dev/null 2>&1; then
    step experiments/features.py --workdir=runs/m1 --step="$checkpoint" --scaling=released \
        --classifiers=logistic
  fi
done
step scripts/features_table.py --workdir=runs/m1 --out=runs/m1/probe_table.md
for seeds in 0 0,1,2,3,4; do  # Draw 0 everywhere first; finished draws are skipped.
  for n in 600 1000 3000; do
    step experiments/semi_supervised.py --workdir="$out/m1m2_fast" --model=m1m2 \
        --seeds="$seeds" "${m1m2_fast[@]}" --config.num_labels="$n"
  done
done
for n in 600 1000 3000; do
  step experiments/semi_supervised.py --workdir="$out/m2_grey" --model=m2 --seeds=0 \
      "${m2_long[@]}" --config.num_labels="$n" --config.hidden_units=500
done
step experiments/semi_supervised.py --workdir="$out/m1m2" --model=m1m2 --seeds=0 \
    --config=vaejax/configs/semi_supervised_m1m2.py
step experiments/semi_supervised.py --workdir="$out/m1m2_parts" --model=m1m2 --seeds=0 \
    --config=vaejax/configs/semi_supervised_m1m2_parts.py
step experiments/semi_supervised.py --workdir="$out/m2_images" --model=m2 --seeds=0 \
    --config=vaejax/configs/semi_supervised_images.py
