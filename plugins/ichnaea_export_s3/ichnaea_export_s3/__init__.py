"""The s3 export target for Ichnaea (gzipped JSON batches to a bucket). Filled by the
pipeline issue; registers nothing yet.
"""
