"""Convolutional auto-encoders: plain/tied, contractive, repelling (SPEC §6.2)."""

__all__: list = []
