"""Data: the Fashion-MNIST and CIFAR-10 readers, the shipped galleries, and image files decoded into a model's
input."""
