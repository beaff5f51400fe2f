"""mimi: see why adversarial attacks work through multi-order interactions.

The library behind the mimi dashboard: players and masking, value functions,
interaction estimators, attacks, the model zoo, figures and the CLI.
"""

__version__ = "0.1.0"
