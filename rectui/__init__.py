"""rectui: a keyboard-driven terminal explorer for call and meeting recordings."""

__version__ = "0.1.0"
