"""Test utilities: a local HTTP file server and writers for upstream checkpoint formats."""
