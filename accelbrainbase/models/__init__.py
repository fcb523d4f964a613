"""The model zoo: every model is an `ObservableModel` (a Gluon `HybridBlock` implementing
`ObservableData`) registered under a name for `accelbrainbase.get_model`."""
from .base import ObservableModel
from .dbm import DeepBoltzmannMachines
from .dense import AutoEncoder, DenseDecoder, DenseEncoder, NeuralNetworks
from .rbm import RestrictedBoltzmannMachines

__all__ = ["ObservableModel", "NeuralNetworks", "AutoEncoder", "DenseEncoder", "DenseDecoder",
           "RestrictedBoltzmannMachines", "DeepBoltzmannMachines"]
