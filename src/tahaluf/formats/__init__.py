"""Bank file formats for import and export: one module per format (see
:mod:`tahaluf.formats.base` for what a format is, :mod:`tahaluf.formats.registry`
for how they are found)."""
