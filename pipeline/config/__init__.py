"""AOI configs: pydantic models and YAML loading with line numbers."""
