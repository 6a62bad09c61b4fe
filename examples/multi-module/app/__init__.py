"""The worker's application code, a package of its own."""

NAME = "multi-module"
