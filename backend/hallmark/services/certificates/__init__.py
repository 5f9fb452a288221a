"""Certificates: the signed document a brand issues for a finished piece, its anchoring as a
certificate record, the provenance bundle that goes with it, reissue and revocation on chain,
and the offline verifier.

`document` and `verifier` need no database (the `hallmark verify` command imports only them);
`issuance`, `evidence` and `lifecycle` are the use cases behind the API and CLI.
"""
