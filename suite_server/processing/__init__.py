"""What happens to a stored push after `success` was answered (pipeline.py)."""
