"""Plain data shared by every stage: sensors and their radiometry, grids, scenes, images, change."""
