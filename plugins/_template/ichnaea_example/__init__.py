"""An example Ichnaea plugin: an export target that writes batches to files, and a
radio of transmitters whose positions are known beforehand."""
