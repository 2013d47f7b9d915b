"""Python's sleeps and threads as they should be under `make test-dates` (libfaketime 0.9.10):
see sitecustomize."""
