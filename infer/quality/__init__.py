"""Sample quality: a feature network trained on the real data, and the figures on its
features (FID, KID, classifier score, classes, precision/recall), each beside a real-data
floor and a noise ceiling."""
