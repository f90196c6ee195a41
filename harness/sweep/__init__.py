"""Running a plan: the driver (``driver.run_sweep``, the single writer of the store), work units of one
checkpoint (``units``) and what computes one cell (``measure``, ``activations``), the executors (``executor``:
local; ``ray``: Ray tasks on a cluster), checkpoints loaded ahead (``prefetch``) and adaptive rounds
(``adaptive``)."""
