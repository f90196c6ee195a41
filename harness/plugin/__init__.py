"""The plugin contract: the four plugin kinds (``contract``), their hooks (``hookspecs``), the registry that
loads every plugin from the ``harness`` entry-point group (``registry``) and what ``harness plugins NAME``
shows about one (``describe``). Plugins import the contract through ``harness`` itself."""
