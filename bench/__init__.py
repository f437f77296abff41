"""Linli benchmarks: `python -m bench quick|all|<module>` (see bench/__main__.py)."""
