"""E3D: training-free spatio-temporal entropy search for efficient 3D CNN video recognition."""

__version__ = "0.1.0"
