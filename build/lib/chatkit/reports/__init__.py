"""Reports: the analyzer that orchestrates diagnosis and LLM, the offline report, rendering, exports."""
