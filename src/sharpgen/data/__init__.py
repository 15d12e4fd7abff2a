"""Datasets, distribution shifts and augmentation for the digits study."""
