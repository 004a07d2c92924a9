"""What the robot stands in: terrain height fields (:mod:`.terrain`), obstacle worlds and navigation
layouts."""
