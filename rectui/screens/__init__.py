"""Screens: they own the workers and the view state."""
