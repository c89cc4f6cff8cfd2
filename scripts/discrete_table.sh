#!/usr/bin/env bash
# The estimators without reparameterization, compared (README, "Discrete latents"), one run
# after another (hours on 2 CPU cores). Every step is a resumable run directory: run the same
# command again and it continues where it stopped, skipping what is finished.
#   1. the quick grid on the linear SBN (compare_discrete_quick.py): VIMCO, RWS wake, NVIL at
#      K = 1, 5, 50 -> runs/compare_sbn/results.md;
#   2. the price of the reparameterization trick on the Gaussian VAE (compare_quick.py): IWAE
#      (reparameterized) against score, NVIL and VIMCO at K = 1, 5, 50 -> runs/compare_price;
#   3. the longer runs on the linear SBN at K = 5, batch 24: VIMCO and RWS wake side by side,
#      200 epochs each, the test NLL (1000 samples) every 50 -> runs/sbn_vimco_k5, runs/sbn_rws_k5.
set -uo pipefail
source "$(dirname "$0")/setup_venv.sh"
export JAX_PLATFORMS=cpu
py=.venv/bin/python
step() { echo "== $(date -u +%FT%TZ) $*"; "$py" "$@" || echo "== failed: $*"; }

step experiments/compare_samples.py --workdir=runs/compare_sbn \
    --config=vaejax/configs/compare_discrete_quick.py --methods=vimco,rws_wake,nvil \
    --num_samples=1,5,50 --seeds=0
step experiments/compare_samples.py --workdir=runs/compare_price \
    --config=vaejax/configs/compare_quick.py --methods=iwae,score,nvil,vimco \
    --num_samples=1,5,50 --seeds=0
# The test NLL with 1000 samples takes ~15 minutes on one core (10,000 images), as long as
# about 75 epochs of training: every 50 epochs (runs/sbn_*_k5 began at 20 and were evaluated
# at epoch 20 too; eval_every_epochs may change on resume).
long=(--config=vaejax/configs/sbn.py --config.num_epochs=200 --config.eval_every_epochs=50
      --config.eval_num_samples=1000)
# Side by side, one core each: at batch 24 a second core does not speed one run (2 epochs:
# 35 s on one core, 38 s on two), so two at once finish in half the time. On CPU the numbers
# depend on how many cores the process may use (README, "Reproducibility"): resume each
# pinned as here.
echo "== $(date -u +%FT%TZ) runs/sbn_vimco_k5 and runs/sbn_rws_k5, side by side"
taskset -c 0 "$py" experiments/train.py --workdir=runs/sbn_vimco_k5 "${long[@]}" &
vimco=$!
taskset -c 1 "$py" experiments/train.py --workdir=runs/sbn_rws_k5 "${long[@]}" \
    --config.gradient_estimator=rws_wake || echo "== failed: runs/sbn_rws_k5"
wait "$vimco" || echo "== failed: runs/sbn_vimco_k5"
