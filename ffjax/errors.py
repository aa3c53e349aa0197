"""What a user's mistake raises: one line that names the key, the file or the step.

A leaf: it imports nothing of ffjax, so every piece can raise these without importing the
validator or the data readers (the command line prints them as `error: ...`, exit 2).
"""


class ConfigError(ValueError):
  """A config value that cannot work; the message names the key."""


class DataError(Exception):
  """A data file is missing, truncated, corrupted or not what it claims to be."""


def need(cond, key, value, why):
  """ConfigError('config.KEY=VALUE: why') unless cond."""
  if not cond:
    raise ConfigError(f'config.{key}={value!r}: {why}')
