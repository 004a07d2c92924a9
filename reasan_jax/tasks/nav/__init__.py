"""REASAN's navigation task (``nav``): reach goals through grids and mazes on top of the frozen
filter and loco policies (REASAN nav §1-6)."""
