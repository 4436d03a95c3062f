"""The ONNX importer's pattern rules: each merges a group of nodes that is one IR layer into one op
(``rules.py`` runs them all, in order, and holds the small ones; attention in ``attention.py`` with its
skeleton, mask, weights and evaluator modules; activations and arithmetic in ``math.py``; norms in
``norm.py`` and ``layer_norm.py``; recurrent outputs in ``rnn.py``; spatial ops in ``spatial.py``)."""
