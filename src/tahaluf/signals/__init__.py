"""Signal computation: the pure, fast core that turns content into fingerprints.

Kernels here import only the standard library, numpy and native hashing
libraries (pdqhash, PyAV, Pillow, pypdf, xxhash). They read no configuration
and log nothing: limits are passed in as arguments.
"""
