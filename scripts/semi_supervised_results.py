"""Kingma et al.'s Table 1 as one table, from the results.json files of semi-supervised runs.

  .venv/bin/python scripts/semi_supervised_results.py \
      --results=$(ls docs/semi_supervised/*/results.json | paste -sd,) \
      --out=docs/semi_supervised/table1.md

(--results is one comma-separated list: a bare glob would pass the files after the first as
positional arguments, which absl scripts ignore.)

Each results.json is what experiments/semi_supervised.py --seeds=... wrote (a row per model,
labels, objective and K); the table gives every row of every file, ordered by model, number
of labels and K, its first column the folder it came from, the rest as in each results.md.
Rows of different files with the same settings (semi_supervised_tables.merge: the same
config and M1 but the seed, e.g. draws 1-2 run in one session and 3-4 in the next) are one
row of all their draws, its folders joined by '+'.
"""

import json
import pathlib
import sys

from absl import flags

sys.path.insert(0, str(pathlib.Path(__file__).parent.parent / 'experiments'))
import cli  # pylint: disable=g-import-not-at-top  (experiments/ is not installed)
import semi_supervised_tables  # pylint: disable=g-import-not-at-top
from vaejax.errors import UserError

_RESULTS = flags.DEFINE_list('results', None, 'results.json files, comma-separated.',
                             required=True)
_OUT = flags.DEFINE_string('out', None, 'The markdown file to write.', required=True)
ORDER = ('m2', 'm1m2', 'm1')


def main(argv):
  del argv
  rows = []
  for name in _RESULTS.value:
    path = pathlib.Path(name)
    if not path.is_file():
      raise UserError(f'{name} is not a results.json file')
    rows += [(path.parent.name, s) for s in json.loads(path.read_text())]
  rows = semi_supervised_tables.merge(rows)
  rows.sort(key=lambda r: (ORDER.index(r[1]['model']), r[1]['num_labels'], r[1]['k'], r[0]))
  table = semi_supervised_tables.markdown_table([s for _, s in rows],
                                                [source for source, _ in rows])
  pathlib.Path(_OUT.value).write_text(table)
  print(table, end='')


if __name__ == '__main__':
  cli.run(main)
