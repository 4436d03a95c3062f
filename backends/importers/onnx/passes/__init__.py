"""The ONNX importer's graph passes, each under the contract of ``common/passes.py`` and run in this
order: shape folding (``fold.py``), the pattern rules (``pattern_rules.py``, rules in ``../patterns/``),
then layout inference (``layout.py``), which reads the graph and changes nothing. A rewriting pass says
whether it changed the graph by comparing it with a ``snapshot.py`` taken before."""
