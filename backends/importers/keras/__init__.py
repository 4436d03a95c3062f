"""The Keras 3 importer: ``from_keras`` (``importer.py``) walks a functional or Sequential model's graph
(``graph.py``), turns each layer into IR through ``KERAS_TABLE`` (``layers.py``, with recurrent layers in
``recurrent.py``, MultiHeadAttention in ``attention.py`` and shared helpers in ``convert_helpers.py``),
reads stored constants repeated over the batch back (``constant.py``) and infers blocks from the layers'
names (``block_names.py``). Keras is imported only when one of these modules is."""
