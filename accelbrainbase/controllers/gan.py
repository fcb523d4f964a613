"""Adversarial controllers: GAN, conditional GAN, AAE, EBGAN, EBAAE (SPEC §6.4)."""

__all__: list = []
