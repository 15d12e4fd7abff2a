"""Model zoo: architectures and the training loop that produces them."""
