"""Pieces shared by the tasks: reward terms used by more than one task (:mod:`.rewards`)."""
