"""Multi-view evaluation of a trained model: K-Center / K-LeftCenterRight views, per-video softmax averages."""
