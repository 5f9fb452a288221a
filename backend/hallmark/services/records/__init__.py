"""Records: material lots, products and production steps, their attachments, imports and views.

`kinds` creates records of each kind one at a time or in batches (`lots`, `products`, `steps`
define theirs), `group_commit` stores concurrent single creates together, `imports` reads CSV and
JSON batches, `visibility` says who may see what, `views` reads stored records back with their
anchoring, `provenance` and `epcis` show a product's history.
"""
