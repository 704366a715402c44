"""Operations endpoints: /metrics for Prometheus (metrics.py). Top of the layering: it reads what the sync,
the clients and the request layer record, and nothing imports it."""
