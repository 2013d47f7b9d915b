"""The settings sections, grouped by stage; pipeline/config/schema.py assembles them."""
