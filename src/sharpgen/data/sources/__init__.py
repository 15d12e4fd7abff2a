"""Readers for the datasets of the paper's settings (ImageNet folder, MNLI/HANS, CIFAR-10/-C)."""
