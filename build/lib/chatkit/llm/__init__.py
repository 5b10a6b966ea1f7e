"""Talking to an LLM: prompts, pseudonyms, the OpenAI-compatible provider, answer parsing."""
