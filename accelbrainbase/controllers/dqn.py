"""Deep Q-learning controller with replay buffer and target network (SPEC §6.5)."""

__all__: list = []
