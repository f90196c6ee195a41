"""The Ray executor: the driver's side (``executor``), what a worker runs (``worker``) and the guard that
stops a Ray instance with the driver that started it (``guard``). Imported only when ``executor: ray``."""
