#!/usr/bin/env bash
# Reproduces Burda et al.'s Table 1 (VAE and IWAE at K = 1, 5, 50; one and two stochastic
# layers) with the setup of the paper's released code (vaejax/configs/burda2015.py and
# burda2015_two_layer.py): 3280 epochs at batch 20, test NLL with 5000 samples.
#
#   scripts/reproduce_iwae_table.sh               # runs/iwae_table/{one_layer,two_layer}
#   scripts/reproduce_iwae_table.sh --paper-text  # the paper's text instead (default.py,
#                                                 # two_layer.py): runs/iwae_table_paper_text
#   scripts/reproduce_iwae_table.sh --quick       # one layer, short schedule, ~10 min on 2 CPU cores
#   scripts/reproduce_iwae_table.sh --quick --seeds=0,1,2   # the same with three seeds: mean ± std
#
# Interrupted? Run the same command again: finished cells are kept, the rest resume.
# Extra arguments go to experiments/compare_samples.py (e.g. --methods=vae,iwae,dreg).
source "$(dirname "$0")/setup_venv.sh"
if [ "${1:-}" = "--quick" ]; then
  shift
  exec .venv/bin/python experiments/compare_samples.py --workdir=runs/iwae_table_quick \
    --config=vaejax/configs/compare_quick.py --methods=vae,iwae --num_samples=1,5,50 \
    --bound_examples=200 "$@"
fi
workdir=runs/iwae_table
one_layer=vaejax/configs/burda2015.py
two_layer=vaejax/configs/burda2015_two_layer.py
if [ "${1:-}" = "--paper-text" ]; then
  shift
  workdir=runs/iwae_table_paper_text
  one_layer=vaejax/configs/default.py
  two_layer=vaejax/configs/two_layer.py
fi
for architecture in one_layer two_layer; do
  config=$one_layer
  [ "$architecture" = two_layer ] && config=$two_layer
  .venv/bin/python experiments/compare_samples.py --workdir="$workdir/$architecture" \
    --config="$config" --methods=vae,iwae --num_samples=1,5,50 "$@"
done
