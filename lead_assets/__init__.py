"""lead-sprint: a 24-hour B2B lead sprint on Dagster."""
