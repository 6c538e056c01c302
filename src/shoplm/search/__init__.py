"""Search: retrieve candidates lexically and semantically, fuse, filter, explain."""
