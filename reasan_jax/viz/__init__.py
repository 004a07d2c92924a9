"""Rendering: headless OpenGL set-up, video files, scene overlays."""
