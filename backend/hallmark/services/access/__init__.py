"""Access: who the caller is and what it may do.

`keys` issues and checks API keys (the caller, an `Actor`), `authorisation` says which roles may
write what, `organisations` keeps organisations, principals and keys in step with the chain,
`audit` is the hash-chained log of every write and denial, `idempotency` replays answers.
People: `staff` keeps the console's accounts and roles, `passwords` and `totp` their two
factors, `logins` the throttled sign-in steps and the server-side sessions.
"""
