"""Ladder networks, dense and convolutional (SPEC §6.2)."""

__all__: list = []
