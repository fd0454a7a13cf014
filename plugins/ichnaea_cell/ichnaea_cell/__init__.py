"""Cell towers (GSM, WCDMA, LTE, NR): what devices see, where we learnt the
cells and their areas are, and the answers they give."""
