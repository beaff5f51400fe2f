"""Models: the zoo's networks and recipes, registered models (architectures, checkpoints, the registry), the
input space each model works in, training and evaluation."""
