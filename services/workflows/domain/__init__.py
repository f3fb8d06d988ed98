"""The workflows context's rules, plain Python: runs and steps (runs.py), templates (templates.py),
Notion's block format (notion_blocks.py) and the offline analysis step (analysis.py)."""
