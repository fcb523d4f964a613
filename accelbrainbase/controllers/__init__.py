"""Controllers (`ControllableModel`) orchestrating several models: GAN, AAE, EBGAN, DQN, ..."""

__all__: list = []
