"""Maps each top-level folder to a ``cellorg.<folder>`` sub-package.

setuptools needs sub-packages listed explicitly: without them a regular install silently drops them.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = ["core", "org", "projects", "permissions", "talent_pool", "ledger", "graphql", "migrations"]


def _packages() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for folder in FOLDERS:
        top = f"cellorg.{folder}"
        packages.append(top)
        package_dir[top] = folder
        for sub in find_namespace_packages(where=folder, exclude=["__pycache__*", "*.__pycache__*"]):
            packages.append(f"{top}.{sub}")
            package_dir[f"{top}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"
    return packages, package_dir


packages, package_dir = _packages()
setup(
    packages=packages,
    package_dir=package_dir,
    package_data={"cellorg.migrations": ["*.py", "*.mako", "versions/*.py"], "": ["py.typed", "*.conf"]},
)
