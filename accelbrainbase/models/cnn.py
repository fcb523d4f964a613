"""Convolutional classifier (SPEC §6.2)."""

__all__: list = []
