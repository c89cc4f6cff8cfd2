"""Anomaly detection: train without one class, then find it among the test images.

  python experiments/anomaly.py --workdir=runs/anomaly_mnist_0 \
      --config=vaejax/configs/quick.py --config.held_out_label=0
  python experiments/anomaly.py --workdir=runs/anomaly_fashion_0 \
      --config=vaejax/configs/quick.py --config.held_out_label=0 \
      --config.dataset=idx:../shared/data/fashion_mnist

Trains (or resumes) a run on every class but --config.held_out_label, scores each test image
by its importance-sampled -log p(x) and by its -ELBO (the run's own per-image test estimates,
drawn with its eval key), and writes to the workdir anomaly.json
(AUROC and AUPRC of each score for separating the held-out class) and anomaly_scores.png
(the scores' histograms, held-out class against the rest).
"""

import json
import pathlib

from absl import flags
import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
from ml_collections import config_flags
import numpy as np

import vaejax
import cli
from vaejax import anomaly
from vaejax.data import datasets
from vaejax.logpx import importance
from vaejax.training import trainstate

_CONFIG = config_flags.DEFINE_config_file('config', cli.config_path('quick.py'),
                                          'Config of the run.', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory.', required=True)
_NUM_SAMPLES = flags.DEFINE_integer('num_samples', 1000, 'Importance samples per score.')


def main(argv):
  del argv
  config = _CONFIG.value
  if config.held_out_label < 0:
    raise vaejax.UserError('set --config.held_out_label to the class to hold out')
  vaejax.train_and_evaluate(config, _WORKDIR.value)
  run = vaejax.load(_WORKDIR.value)
  dataset = datasets.load(config.dataset, config.data_dir or None)
  # The run's own test-set estimates: with num_samples = eval_num_samples, the scores' mean is
  # its test NLL.
  stats = importance.per_example(run.model, run.params, dataset.test_images,
                               trainstate.run_keys(config.seed).eval, _NUM_SAMPLES.value)
  is_anomaly = dataset.test_labels == config.held_out_label
  scores = {f'-log p(x) (k={_NUM_SAMPLES.value})': -stats['log_px'], '-ELBO': -stats['elbo']}
  results = {'dataset': config.dataset, 'held_out_label': config.held_out_label,
             'num_anomalies': int(is_anomaly.sum()), 'num_normal': int((~is_anomaly).sum())}
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, (name, score) in zip(axes, scores.items()):
    results[name] = {'auroc': anomaly.auroc(score, is_anomaly),
                     'auprc': anomaly.auprc(score, is_anomaly)}
    bins = np.linspace(np.percentile(score, 0.5), np.percentile(score, 99.5), 80)
    ax.hist(score[~is_anomaly], bins, density=True, alpha=0.6, label='training classes')
    ax.hist(score[is_anomaly], bins, density=True, alpha=0.6,
            label=f'held-out class {config.held_out_label}')
    ax.set(xlabel=f'{name} (nats)', ylabel='density',
           title=f"AUROC {results[name]['auroc']:.3f}, AUPRC {results[name]['auprc']:.3f}")
    ax.legend()
  fig.tight_layout()
  workdir = pathlib.Path(_WORKDIR.value)
  fig.savefig(workdir / 'anomaly_scores.png', dpi=120)
  (workdir / 'anomaly.json').write_text(json.dumps(results, indent=2) + '\n')
  print(json.dumps(results))


if __name__ == '__main__':
  cli.run(main)
