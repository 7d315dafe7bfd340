"""Packaging is in pyproject.toml except what it cannot say: which packages, and that the repo-root templates/
folder ships inside the package as matcher/templates (matcher.digest.render looks there in an installed copy,
and at the repo root in a checkout)."""
from setuptools import find_namespace_packages, setup

TEMPLATE_PACKAGES = ["matcher.templates", *(f"matcher.templates.{p}" for p in find_namespace_packages("templates"))]

setup(
    packages=[*find_namespace_packages(include=["matcher*", "jobs*"]), *TEMPLATE_PACKAGES],
    package_dir={"matcher.templates": "templates"},  # its files: [tool.setuptools.package-data] in pyproject.toml
)
