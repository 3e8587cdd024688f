"""Hash-pinned requirement locks for every pip install the roles run on hosts (``make lock`` writes them).

``sets`` says which install sets exist and where their pins come from, ``lockfile`` reads, writes and checks the
lock format, ``pypi`` reads the sha256 of every file of a release from the index, and ``__main__`` resolves the
sets with uv and writes the locks.
"""
