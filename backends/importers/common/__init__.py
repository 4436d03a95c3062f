"""What every importer shares: the problem records and the one error listing them all (``problems.py``),
unique Python-identifier names for layers and models (``names.py``), the join of converter tables that
refuses a key claimed twice (``tables.py``), the small contract graph passes run under (``passes.py``),
the users' own converters (``converters.py``) and the exact rewrites run on every imported model
(``rewrites.py``, over the node-by-node rebuild of ``rebuild.py``). Nothing here imports a framework."""
