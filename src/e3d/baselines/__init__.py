"""Training-free baselines and studies: Figure 4 (forward inference vs the analytic score) and Figure 3 (how well
STEntr, HomoEntr, FLOPs and parameters predict accuracy)."""
