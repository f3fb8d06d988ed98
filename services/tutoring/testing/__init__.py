"""Test doubles for the tutoring context that speak real protocols (see openai_server)."""
