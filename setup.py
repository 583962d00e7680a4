"""Build hook: compile the engine's hot path (``hygie/detect/sigma/kernel.py``) with Cython.

The module is plain Python and stays importable uncompiled; compiled, its per-field loop runs as
C. Everything else about the package is declared in ``pyproject.toml``.
"""

from setuptools import setup

try:
    from Cython.Build import cythonize
except ImportError:  # no Cython: the pure-Python kernel is used (slower, same results)
    extensions = []
else:
    extensions = cythonize(
        ["src/hygie/detect/sigma/kernel.py"],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
        quiet=True,
    )

setup(ext_modules=extensions)
