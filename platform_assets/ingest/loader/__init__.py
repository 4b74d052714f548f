"""The partition loader, one module per stage; :mod:`.partition` runs them in order:

``fetch`` (download and inflate) -> ``csvfile`` (the file as SQL) -> ``validation`` (streamed
pandera checks and rejects) -> ``keys`` (repeated keys and their winners) -> ``upsert`` (one
transaction). ``warehouse`` holds the table layout (lineage and reject columns, DDL) and attaching
the warehouse file; ``model`` the request, the result, the settings and the errors.
"""
