#!/usr/bin/env bash
# The main experiment on the bundled MNIST, quick form: VAE and IWAE at K = 1, 5, 50 on the
# paper's one-layer model, short schedule (about 5 minutes on 2 CPU cores; 14 with --seeds=0,1,2), ending with the
# table of test results. Creates .venv first if absent. Results: runs/iwae_table_quick/.
exec "$(dirname "$0")/reproduce_iwae_table.sh" --quick "$@"
