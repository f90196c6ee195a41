"""Small utilities every layer uses: user errors (``errors``), safe file writes (``files``), the cache root
(``paths``), settings digests (``digest``), the torch device (``devices``) and thread counts (``threads``)."""
