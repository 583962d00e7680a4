"""The running service: collectors -> bus -> normalise -> detect -> alerts -> store."""
