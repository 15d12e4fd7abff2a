"""Networks: the architectures trained here, and loaders of the upstream checkpoint formats."""
