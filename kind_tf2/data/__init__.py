"""Data: the LOL layout, training patches and the synthetic LOL generator."""
