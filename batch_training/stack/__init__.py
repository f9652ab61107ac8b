"""Operating the platform on one machine: a local PostgreSQL, the production-shaped stack. No Dagster here."""
