"""Controllers (`ControllableModel`) orchestrating several models: GAN, AAE, EBGAN, DQN, ...
Each module lists its public classes in ``__all__``; this package re-exports them."""
from . import dqn, gan
from .dqn import *  # noqa: F401,F403
from .gan import *  # noqa: F401,F403

__all__ = gan.__all__ + dqn.__all__
