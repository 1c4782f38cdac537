"""The numbered SQL migrations, installed as the package `basso._migrations` (see setup.py).

This file only makes the folder a package so that wheels and editable installs find it the same way.
"""
