"""Makes Python's sleeps work under `make test-dates` (libfaketime): see sitecustomize."""
