"""Package discovery, with the migrations in sql/ shipped as the package `basso._migrations`.

Everything else about the build is in pyproject.toml; only this mapping cannot be said there together with
package discovery.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["basso", "basso.*"]), "basso._migrations"],
    package_dir={"basso._migrations": "sql"},
)
