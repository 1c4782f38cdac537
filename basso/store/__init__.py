"""PostgreSQL: migrations, the fenced write path and the read queries."""
