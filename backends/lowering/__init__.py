"""What every backend shares: the driver that lowers an IR model into generated code, and that code's parts.

- :mod:`.code`: the generated code -- :class:`~.code.Program` (definitions,
  body lines, weights), its typed definitions (``LayerDef``, ``BufferDef``,
  ``BlockDef``), :class:`~.code.Value` (an IR tensor as a variable and the
  layout it is held in) and the helpers that write literals and calls.
- :mod:`.driver`: :class:`~.driver.Lowering`, which walks the model node by
  node through a backend's table and resolves layouts at compile time
  (transposes only where needed, feature orders folded into weights).
- :mod:`.reshape_layout`: layout arithmetic that lets a reshape or a layout
  change keep the held layout (no transpose).
- :mod:`.kernels`: Keras kernel layouts as channels-first backends (torch,
  ONNX) hold them.
- :mod:`.block_code`: a lowered program regrouped so each repeated block kind
  is written once, as a class (torch) or a builder function (Keras).
- :mod:`.code_lines`: the names a generated line defines and reads, and
  renaming them (what block cutting needs).
- :mod:`.block_literals`: which integer literals of a block's code become its
  parameters, and how they are named.
- :mod:`.source_style`: the finished source in the project's ruff style (double
  quotes, lines of at most 120 characters), so emitted files pass ruff.

Nothing here imports a framework; each backend (``keras/``, ``torch/``,
``onnx/``) brings its own subclass of ``Lowering`` and its table, joined by
``join_tables`` (``backends/tables.py``).
"""
