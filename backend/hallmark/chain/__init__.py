"""Everything that talks to or prepares for the chain: compiler, artifacts, node, keys, client."""
