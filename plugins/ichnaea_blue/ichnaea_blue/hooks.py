"""Entry point of the blue plugin.

It implements no hook yet: installing it changes nothing until its
issue fills it in.
"""
