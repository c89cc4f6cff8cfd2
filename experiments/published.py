"""Published test NLLs (nats, 5000 importance samples) on MNIST, from ../shared/REFERENCE.md."""

# Burda et al. (2015), Table 1: method -> K -> (NLL, active units).
IWAE_TABLE = {
    'one_layer': {
        'vae': {1: (86.76, '19'), 5: (86.47, '20'), 50: (86.35, '20')},
        'iwae': {1: (86.76, '19'), 5: (85.54, '22'), 50: (84.78, '25')},
    },
    'two_layer': {
        'vae': {1: (85.33, '16+5'), 5: (85.01, '17+5'), 50: (84.78, '17+5')},
        'iwae': {1: (85.33, '16+5'), 5: (83.89, '21+5'), 50: (82.90, '26+7')},
    },
}

# An independent full-schedule TF2 reproduction (3280 epochs), one stochastic layer.
TF2_REPRODUCTION = {
    'one_layer': {
        'vae': {1: 86.35, 5: 86.10, 50: 86.06},
        'iwae': {1: 86.35, 5: 85.18, 50: 84.59},
        'dreg': {1: 86.08, 5: 84.90, 50: 84.32},
    },
    'two_layer': {'iwae': {1: 84.83, 5: 83.48, 50: 82.82}},
}


# Mnih & Rezende (2016), the linear 200-200-200 SBN on the fixed binarization of MNIST, as
# ../shared/REFERENCE.md section 7 quotes it (from the reproduction y0ast/VIMCO); the other K
# are not given there.
DISCRETE_TABLE = {'sbn_linear': {'vimco': {5: 93.6}}}


def published_nll(architecture: str, method: str, k: int) -> float | None:
  """The paper's number where it has one, else the TF2 reproduction's, else None."""
  paper = IWAE_TABLE.get(architecture, {}).get(method, {}).get(k)
  if paper is not None:
    return paper[0]
  discrete = DISCRETE_TABLE.get(architecture, {}).get(method, {}).get(k)
  if discrete is not None:
    return discrete
  return TF2_REPRODUCTION.get(architecture, {}).get(method, {}).get(k)


def published_active_units(architecture: str, method: str, k: int) -> str | None:
  paper = IWAE_TABLE.get(architecture, {}).get(method, {}).get(k)
  return None if paper is None else paper[1]

# Kingma et al. (2014), Table 1: MNIST test error (%) with N labels; None where not stated.
SEMI_SUPERVISED_TABLE = {
    'nn': {100: 25.80, 600: 11.44, 1000: 10.7, 3000: 6.04},
    'm1': {100: 11.82, 600: 5.72, 1000: 4.24, 3000: 3.49},  # M1 + TSVM
    'm2': {100: 11.97, 600: 4.94, 1000: 3.60, 3000: 3.92},
    'm1m2': {100: 3.33, 600: 2.59, 1000: 2.40, 3000: 2.18},
}
