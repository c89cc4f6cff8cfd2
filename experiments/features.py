"""M1: how well a trained VAE's features classify with few labels (a probe).

  python experiments/features.py --workdir=runs/iwae_k5 --num_labels=100

Fits multinomial logistic regression and an MLP (chosen on the last 10,000 training images)
on the posterior means E_q[z | x] of num_labels labelled training images (num_labels / C per
class, a draw fixed by --seed and N, the same as the semi-supervised runs'), the same
classifiers on the activations of the encoder's last hidden layer (MLP encoders) and on the
raw pixels of the same images; prints the test errors and writes them to
WORKDIR/features_n<N>_seed<S>_step<STEP>_<SCALING>_b<BINARIZATIONS>[_logistic].json
(--classifiers=logistic: logistic regression only). With the 10-epoch run of
vaejax/configs/quick.py and 100 labels, expect about 30% against the pixels' 25%: its latent
means are weaker features than the pixels at this number of labels (README).
"""

import json
import pathlib
import time

from absl import flags

import vaejax
import cli
from vaejax.data import datasets
from vaejax.models import vae
from vaejax.semisupervised import features
from vaejax.semisupervised import splits
from vaejax.training import trainstate

_WORKDIR = flags.DEFINE_string('workdir', None, 'A trained unsupervised run.', required=True)
_NUM_LABELS = flags.DEFINE_integer('num_labels', 100, 'Labelled training images.')
_NUM_VALIDATION = flags.DEFINE_integer('num_validation', 10000,
                                       'The last training images, for model selection.')
_SEED = flags.DEFINE_integer('seed', 0, 'The draw of the labelled images.')
_LAYERS = flags.DEFINE_enum('layers', 'top', features.LAYERS,
                            'Two stochastic layers: the top latent or both.')
_SCALING = flags.DEFINE_enum('scaling', 'standardized', features.SCALINGS,
                             'Active units standardized, or the released code\'s units '
                             '(posterior-mean std > 0.1) unscaled.')
_BINARIZATIONS = flags.DEFINE_integer('binarizations', 0, 'The encoder\'s input: 0 grey '
                                      'levels, or the mean over this many binarizations.')
_CLASSIFIERS = flags.DEFINE_enum('classifiers', 'both', ('both', 'logistic'),
                                 'Logistic regression and an MLP (the better on validation), '
                                 'or logistic regression alone.')
_STEP = flags.DEFINE_integer('step', None, 'Probe the checkpoint of this step (default: '
                             'the newest).')


def main(argv):
  del argv
  run = vaejax.load(_WORKDIR.value, step=_STEP.value)
  if not isinstance(run.model, vae.VAE):
    raise vaejax.UserError(f'{_WORKDIR.value} is not an unsupervised VAE run')
  dataset = datasets.load(run.config.dataset, run.config.data_dir or None)
  s = splits.make_splits(dataset.train_labels, _NUM_LABELS.value, _NUM_VALIDATION.value,
                         _SEED.value)
  key = trainstate.run_keys(_SEED.value).analysis
  hiddens = ((),) if _CLASSIFIERS.value == 'logistic' else ((), (500,))
  rows = {}
  start = time.monotonic()
  feature_map = features.make_feature_map(
      run.model, run.params, dataset.train_images / 255.0, s.unlabelled, key, _LAYERS.value,
      _BINARIZATIONS.value, _SCALING.value)
  rows['latent means'] = features.probe(feature_map, dataset, s, key, hiddens)
  rows['latent means']['units'] = int(feature_map.units.size)
  rows['latent means']['seconds'] = time.monotonic() - start
  if run.model.has_hidden_features:
    start = time.monotonic()
    hidden = lambda grey: features.encoder_hidden(run.model, run.params, grey)
    rows['encoder hidden layer'] = features.probe(hidden, dataset, s, key, hiddens)
    rows['encoder hidden layer']['units'] = run.model.encoder_hidden[0][-1]
    rows['encoder hidden layer']['seconds'] = time.monotonic() - start
  start = time.monotonic()
  rows['pixels'] = features.probe(lambda grey: grey, dataset, s, key, hiddens)
  rows['pixels']['seconds'] = time.monotonic() - start
  print(f'| input | labels | classifier | validation error % | test error % | test ECE |\n'
        f'|---|---|---|---|---|---|')
  for name, r in rows.items():
    print(f"| {name} | {_NUM_LABELS.value} | {r['classifier']} (l2 {r['l2']:g}) | "
          f"{100 * r['validation_error']:.2f} | {100 * r['test_error']:.2f} | "
          f"{r['test_ece']:.3f} |")
  name = (f'features_n{_NUM_LABELS.value}_seed{_SEED.value}_step{run.step}_{_SCALING.value}'
          f'_b{_BINARIZATIONS.value}{"_logistic" if _CLASSIFIERS.value == "logistic" else ""}'
          '.json')
  (pathlib.Path(_WORKDIR.value) / name).write_text(json.dumps(rows, indent=2) + '\n')


if __name__ == '__main__':
  cli.run(main)
