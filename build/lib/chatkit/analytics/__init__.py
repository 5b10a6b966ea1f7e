"""Columnar views of diagnosed sessions: the facts table, aggregates, what-if replays and Plotly figures."""
