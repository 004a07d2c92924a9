"""Clean stops on Ctrl-C (SIGINT) and ``kill`` (SIGTERM) for long-running commands.

A signal handler that raises ``KeyboardInterrupt`` at once fires wherever the main thread happens
to be, including inside JAX's own Python code, which may re-raise it as a ``ValueError``: the
command then dies with a traceback instead of its clean interrupt path. :class:`StopRequest`
only records the first signal; the command polls :attr:`StopRequest.requested` between units of
work (a chunk of steps, a compiled training call) and stops there. A second signal raises
``KeyboardInterrupt`` at once, for a user who does not want to wait.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
  """Context manager (or :meth:`install` / :meth:`restore`): while active, SIGINT/SIGTERM set :attr:`requested` (the first one) or raise
  ``KeyboardInterrupt`` (any later one); the previous handlers come back on exit.

  Outside the main thread (where Python allows no signal handlers) it installs nothing and
  :attr:`requested` stays False; Ctrl-C then behaves as Python's default.
  """

  def __init__(self):
    self.requested = False
    self._previous: dict[int, object] = {}

  def __call__(self, signum, frame) -> None:
    del signum, frame
    if self.requested:
      raise KeyboardInterrupt
    self.requested = True

  def install(self) -> "StopRequest":
    """Installs the handlers (main thread only); returns ``self``."""
    if threading.current_thread() is threading.main_thread():
      self._previous = {sig: signal.signal(sig, self) for sig in SIGNALS}
    return self

  def restore(self) -> None:
    """Puts the previous handlers back (a no-op if none were installed)."""
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}

  def __enter__(self) -> "StopRequest":
    return self.install()

  def __exit__(self, *exc) -> None:
    self.restore()


__all__ = ["SIGNALS", "StopRequest"]
