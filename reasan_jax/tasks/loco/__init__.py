"""REASAN's Go2 locomotion task (``loco``)."""
