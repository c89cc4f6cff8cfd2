#!/usr/bin/env bash
# Kingma et al.'s semi-supervised Table 1 on MNIST, the long runs one after another (many
# hours on 2 CPU cores). Every step is a resumable run directory: run the same command again
# and it continues where it stopped, skipping what is finished. Results: runs/ssl_table/*/
# results.md and results.json, runs/m1/features_*.json (the M1 probe along training).
#   1. M1 (vaejax/configs/m1.py) into runs/m1, and the logistic-regression probe of its
#      features at every kept checkpoint (100 labels, seed 0), beside the pixels;
#   2. M2 at 100 labels, label draw 0: the released batching's variant
#      (semi_supervised_images.py, finished), then the quick config's settings (grey levels,
#      Adam 2e-3; docs/semi_supervised/quick_probes.md) for 200 epochs ($m2_long);
#   3. M1 + M2 at 100 labels, draw 0 (semi_supervised_m1m2.py; its learning curve first);
#   4. M2 ($m2_long) at 100 labels, draws 1-4;
#   5. M1 + M2 at 100 labels, draws 1-4;
#   6. M1 + M2 and M2 at 600, 1000 and 3000 labels, draw 0.
set -uo pipefail
source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
py=.venv/bin/python
out=runs/ssl_table
m2_long=(--config=vaejax/configs/semi_supervised_quick.py --config.num_epochs=200)
step() { echo "== $(date -u +%FT%TZ) $*"; "$py" "$@" || echo "== failed: $*"; }

step experiments/train.py --workdir=runs/m1 --config=vaejax/configs/m1.py
for checkpoint in $(ls runs/m1/checkpoints 2>/dev/null | sort -n); do
  if ! ls runs/m1/features_n100_seed0_step"${checkpoint}"_released_b0_logistic.json >/dev/null 2>&1; then
    step experiments/features.py --workdir=runs/m1 --step="$checkpoint" --scaling=released \
        --classifiers=logistic
  fi
done
step experiments/semi_supervised.py --workdir="$out/m2_images" --model=m2 --seeds=0 \
    --config=vaejax/configs/semi_supervised_images.py
step experiments/semi_supervised.py --workdir="$out/m2_grey" --model=m2 --seeds=0 "${m2_long[@]}"
step experiments/semi_supervised.py --workdir="$out/m1m2" --model=m1m2 --seeds=0 \
    --config=vaejax/configs/semi_supervised_m1m2.py
step experiments/semi_supervised.py --workdir="$out/m2_grey" --model=m2 --seeds=0,1,2,3,4 \
    "${m2_long[@]}"
step experiments/semi_supervised.py --workdir="$out/m1m2" --model=m1m2 --seeds=0,1,2,3,4 \
    --config=vaejax/configs/semi_supervised_m1m2.py
for n in 600 1000 3000; do
  step experiments/semi_supervised.py --workdir="$out/m1m2" --model=m1m2 --seeds=0 \
      --config=vaejax/configs/semi_supervised_m1m2.py --config.num_labels="$n" \
      --config.hidden_units=500
  step experiments/semi_supervised.py --workdir="$out/m2_grey" --model=m2 --seeds=0 \
      "${m2_long[@]}" --config.num_labels="$n"
done
