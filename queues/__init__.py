"""Queues: the interaction model, queue configuration and the PostgreSQL record of interactions."""
