"""Evaluation: the one rollout behind play, sim2sim and training videos; command schedules; metrics."""
