"""The PyTorch importer: ``from_torch`` (``importer.py``) traces a module with ``torch.fx`` (``capture.py``),
learns which sizes follow the inputs' lengths (``lengths.py``) and turns each call into IR through the
tables joined in ``tables.py`` (modules in ``modules.py``, ``spatial.py``, ``norm_act.py``; functions and
methods in ``ops.py``, ``arith.py``, ``slicing.py``, ``constants.py``; recurrent layers in ``recurrent.py``;
attention in ``attention.py``, hand-written attention read whole by ``attention_hand.py`` and
``attention_read.py``). Torch is imported only when one of these modules is."""
