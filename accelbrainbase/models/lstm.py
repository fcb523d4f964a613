"""Recurrent models: LSTM networks and the LSTM encoder/decoder with EncDec-AD (SPEC §6.3)."""

__all__: list = []
