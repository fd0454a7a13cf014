"""An example Ichnaea plugin: an export target that writes batches to files."""
