"""The lowest layer: players and masking, value functions, games, argument checks, the result type and its JSON,
progress, the compute backend (devices, batch sizes, precision), statistics and the store of precomputed results.

Nothing here imports any other part of mimi; every other package builds on it."""
