"""Build hook: compile the hot paths (``hygie/detect/sigma/kernel.py``, the Sigma engine's, and
``hygie/intel/kernel.py``, the indicator matcher's) with Cython.

The modules are plain Python and stay importable uncompiled; compiled, their per-field loops run
as C. Everything else about the package is declared in ``pyproject.toml``.
"""

from setuptools import setup

try:
    from Cython.Build import cythonize
except ImportError:  # no Cython: the pure-Python kernel is used (slower, same results)
    extensions = []
else:
    extensions = cythonize(
        ["src/hygie/detect/sigma/kernel.py", "src/hygie/intel/kernel.py"],
        compiler_directives={"language_level": "3", "boundscheck": False, "wraparound": False},
        quiet=True,
    )

setup(ext_modules=extensions)
