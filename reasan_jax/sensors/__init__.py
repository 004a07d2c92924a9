"""Sensors: LiDAR ray casting and ray features."""
