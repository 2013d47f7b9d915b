"""Settings (schema, loading, validation) and the TOML helpers every config file uses."""
