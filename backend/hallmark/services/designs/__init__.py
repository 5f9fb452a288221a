"""Designs: fingerprints of design files and the similarity engine the registry searches.

* `sniffing`: what a file is, from its content;
* `images`, `meshes`: safe decoding and the image codes, local features, shape descriptor;
* `fingerprints`: `fingerprint_file` (to register) and `probe_file` (to search);
* `matching`: the second search stage (geometric check and coverage);
* `index`: `DesignIndex` (exact, stage 1, stage 2, models), persisted, `rebuild` from entries.

Similarity is a prompt for a person, never a verdict.
"""
