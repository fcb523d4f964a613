"""The model zoo: every model is an `ObservableModel` (a Gluon `HybridBlock` implementing
`ObservableData`) registered under a name for `accelbrainbase.get_model`. Each family module lists
its public classes in ``__all__``; this package re-exports them."""
from . import adversarial, cae, cnn, conv_lstm, ladder, lstm, mobilenet, q_network, shape_bm, temporal_rbm, transformer
from .adversarial import *
from .base import ObservableModel
from .cae import *
from .cnn import *
from .conv_lstm import *
from .dbm import DeepBoltzmannMachines
from .dense import AutoEncoder, DenseDecoder, DenseEncoder, NeuralNetworks
from .ladder import *
from .lstm import *
from .mobilenet import *
from .q_network import *
from .rbm import RestrictedBoltzmannMachines
from .shape_bm import *
from .temporal_rbm import *
from .transformer import *

__all__ = (["ObservableModel", "NeuralNetworks", "AutoEncoder", "DenseEncoder", "DenseDecoder",
            "RestrictedBoltzmannMachines", "DeepBoltzmannMachines"]
           + temporal_rbm.__all__ + shape_bm.__all__ + cnn.__all__ + cae.__all__ + ladder.__all__
           + mobilenet.__all__ + lstm.__all__ + conv_lstm.__all__ + adversarial.__all__ + q_network.__all__
           + transformer.__all__)
