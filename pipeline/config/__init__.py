"""AOI config files. The models: `schema` (the file, its claims and windows, the verdict's rules,
`watch:`) with `site`, `catalog` and `fields` (the base model and strict types); reading one:
`loading` (`load`, `load_checked`) on `yamlload` (YAML with line numbers), its problems worded
by `diagnostics`; `lookup` (where an AOI name is found), `outline` (a polygon checked),
`footprints` (park outlines from a GeoJSON file)."""
