"""Small utilities every layer uses: user errors (``errors``), safe file writes (``files``), the cache root
(``paths``), settings digests (``digest``), the torch device (``devices``), thread counts (``threads``) and fsaverage5's
cortex from nilearn's package data (``fsaverage``)."""
