"""Temporal RBMs: RTRBM, RNN-RBM, LSTM-RTRBM (SPEC §6.1)."""

__all__: list = []
