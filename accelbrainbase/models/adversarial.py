"""The players of adversarial training: generator, discriminator, energy-based discriminator (SPEC §6.4)."""

__all__: list = []
