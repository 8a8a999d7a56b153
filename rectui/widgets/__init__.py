"""Widgets: they render what the screen gives them and post `…Requested` messages; no workers."""
