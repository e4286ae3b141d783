"""Terminal commands that talk to a running server through the SDK: ``tidegate tail`` and ``dispatch``.

Only the flags load with the command line; the SDK loads when one of these commands runs."""

from tidegate.console.options import add_client_commands

__all__ = ["add_client_commands"]
