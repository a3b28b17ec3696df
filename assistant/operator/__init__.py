"""The operator area (issue 26): the people who keep the collection current sign in to manage it.
`credentials` is the operator file: the password's hash and the bearer tokens' hashes."""
