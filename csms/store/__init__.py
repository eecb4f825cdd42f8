"""Persistence of the central system: tables, the batching writer and the queries."""
