"""Background jobs: the runner (RQ or in-process), the job functions by name, the periodic list."""
