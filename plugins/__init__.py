"""Built-in plugins, installed as ``harness_plugins`` and loaded through the ``harness`` entry-point group."""
