"""The one exception type for user mistakes: scripts print its message and exit non-zero."""


class UserError(Exception):
  """A problem the user can fix (bad config, missing data, a clashing workdir, ...)."""
