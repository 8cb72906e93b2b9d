"""Licensing: signed license documents, seat accounting, measurement periods and usage reports."""
