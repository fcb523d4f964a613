"""ConvLSTM cell, networks, encoder/decoder and the spatio-temporal auto-encoder (SPEC §6.3)."""

__all__: list = []
