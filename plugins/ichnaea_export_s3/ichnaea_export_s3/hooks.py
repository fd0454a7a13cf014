"""Entry point of the export_s3 plugin.

It implements no hook yet: installing it changes nothing until its
issue fills it in.
"""
