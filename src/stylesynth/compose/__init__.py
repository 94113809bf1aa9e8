"""Pixel-level models (Phon-Amnuaisuk §3.1, Fig. 2): filters, blending, automata, patterns."""
