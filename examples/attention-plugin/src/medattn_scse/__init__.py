"""Example medattn-bench plugin package."""
