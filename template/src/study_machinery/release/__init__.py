"""A release of the study: a tagged commit, its citation, and one archive that reproduces
anywhere (make: the command, citation: CITATION.cff and .zenodo.json, archive: the archive)."""
