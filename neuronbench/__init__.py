"""neuronbench: which method best recovers a neuron's identity from its activity?"""

__version__ = "0.1.0"
