# C types of ``kernel.py`` (Cython's "augmenting .pxd"): the .py stays plain Python.
cimport cython

@cython.locals(cls=object, value=object)
cpdef bint unknown_texts(dict fields, dict known, list out, bytes v4, frozenset tlds) except -1

cdef int _DOT, _COLON, _SLASH, _HEX, _ADDRESS, _LIST, _PATH

@cython.locals(size=Py_ssize_t, dots=Py_ssize_t, colons=Py_ssize_t, last_dot=Py_ssize_t,
               hex_only=bint, index=Py_ssize_t, ch=Py_UCS4, code=int, kind=int, seen=int,
               every=int, table=cython.p_uchar)
cpdef bint could_hold(str text, bytes v4, frozenset tlds) except -1

@cython.locals(end=Py_ssize_t, zone=Py_ssize_t, address=cython.ulong, part=cython.ulong,
               digits=int, parts=int, index=Py_ssize_t, ch=Py_UCS4, top=cython.ulong)
cpdef bint address_could_hold(str text, Py_ssize_t colons, bytes v4) except -1

@cython.locals(end=Py_ssize_t, label=str)
cpdef bint label_could_end(str text, Py_ssize_t last_dot, frozenset tlds) except -1
