"""Plain data shared by every stage: sensors and their radiometry, grids, scenes, images, change,
the verdicts and the imagery services' addresses."""
