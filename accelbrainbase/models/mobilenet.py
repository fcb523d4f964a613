"""MobileNetV2 from gluoncv's model zoo wrapped as an ObservableData (SPEC §6.2)."""

__all__: list = []
