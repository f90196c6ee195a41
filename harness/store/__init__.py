"""What a run keeps on disk: the SQLite store (``database``), the long results table's columns
(``schema``), per-combination tables (``tables``), each cell's provenance (``provenance``) and the run's
logs (``logs``)."""
