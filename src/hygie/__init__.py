"""Hygie: a security operations centre for hospitals.

Data flows one way: sources -> normalize -> detect -> alerts (-> respond). Each stage is a
package that imports only the stages before it and :mod:`hygie.core`.
"""

__version__ = "0.1.0"
