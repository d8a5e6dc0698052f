"""The contract suite: the same properties against the fake (default) or Cobalt's real API."""
