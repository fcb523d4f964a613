"""Q-networks: FunctionApproximator wrapping any ObservableData (SPEC §6.5)."""

__all__: list = []
