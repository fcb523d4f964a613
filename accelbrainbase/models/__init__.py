"""The model zoo: every model is an `ObservableModel` (a Gluon `HybridBlock` implementing
`ObservableData`) registered under a name for `accelbrainbase.get_model`. Each family module lists
its public classes in ``__all__``; this package re-exports them."""
from . import (adversarial, base, cae, cnn, conv_lstm, dbm, dense, ladder, lstm, mobilenet, q_network, rbm,
               shape_bm, temporal_rbm, transformer)
from .adversarial import *  # noqa: F401,F403
from .base import ObservableModel
from .cae import *  # noqa: F401,F403
from .cnn import *  # noqa: F401,F403
from .conv_lstm import *  # noqa: F401,F403
from .dbm import DeepBoltzmannMachines
from .dense import AutoEncoder, DenseDecoder, DenseEncoder, NeuralNetworks
from .ladder import *  # noqa: F401,F403
from .lstm import *  # noqa: F401,F403
from .mobilenet import *  # noqa: F401,F403
from .q_network import *  # noqa: F401,F403
from .rbm import RestrictedBoltzmannMachines
from .shape_bm import *  # noqa: F401,F403
from .temporal_rbm import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403

__all__ = (["ObservableModel", "NeuralNetworks", "AutoEncoder", "DenseEncoder", "DenseDecoder",
            "RestrictedBoltzmannMachines", "DeepBoltzmannMachines"]
           + temporal_rbm.__all__ + shape_bm.__all__ + cnn.__all__ + cae.__all__ + ladder.__all__
           + mobilenet.__all__ + lstm.__all__ + conv_lstm.__all__ + adversarial.__all__ + q_network.__all__
           + transformer.__all__)
