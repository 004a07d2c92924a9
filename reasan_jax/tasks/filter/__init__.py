"""REASAN's safety filter (``filter``): a LiDAR shield that rewrites velocity commands for a frozen
locomotion policy (REASAN filter, the whole specification)."""
