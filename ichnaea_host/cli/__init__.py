"""The ``ichnaea`` command and the server it runs. The top floor.
"""
