"""notify's operator commands (services/runtime/cli.py adds every context's `add_commands`)."""

from services.notify.fakes.cli import add_commands

__all__ = ["add_commands"]
