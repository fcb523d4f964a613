"""Shape Boltzmann machine (SPEC §6.1)."""

__all__: list = []
