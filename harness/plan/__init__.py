"""From a config to a checked plan: the config (``config``), checkpoint, layer and voxel selectors
(``selectors``), control stimuli (``stimuli``), the cells to compute (``planner``), the checks run before
anything is written (``preflight``, ``checks``) and the plan's projected cost (``estimate``, ``unitcosts``)."""
