"""The network in host terms: weight layout, initialisation, output layer and loss."""
