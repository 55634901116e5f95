"""Training: clips from a frame store -> model from an architecture reference -> DDP SGD loop with
resumable checkpoints (see loop.train)."""
