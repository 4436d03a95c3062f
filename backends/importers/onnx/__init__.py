"""The ONNX importer: ``from_onnx`` (``importer.py``) loads a file into a small editable graph
(``graph.py``), runs its passes (``passes/``: shape folding, the pattern rules, layout inference), then
turns each op into IR through ``ONNX_TABLE`` (``table.py``: layers from ``ops.py``, ``windows.py``,
``norm.py``, ``spatial.py``, ``rnn.py``, ``attention.py``; ops from ``tier_*.py``; per-op context in
``ctx.py``, stored constants in ``constants.py``, matching helpers in ``match.py``). The pattern rules
themselves live in ``patterns/``. onnx is imported only when one of these modules is."""
