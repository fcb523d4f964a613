"""Controllers (`ControllableModel`) orchestrating several models: GAN, AAE, EBGAN, DQN, ...
Each module lists its public classes in ``__all__``; this package re-exports them."""
from . import dqn, drcn, gan
from .dqn import *
from .drcn import *
from .gan import *

__all__ = gan.__all__ + dqn.__all__ + drcn.__all__
