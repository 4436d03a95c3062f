"""What every importer shares: the problem records and the one error listing them all (``problems.py``),
unique Python-identifier names for layers and models (``names.py``), the join of converter tables that
refuses a key claimed twice (``tables.py``), and the small contract graph passes run under (``passes.py``).
Nothing here imports a framework."""
