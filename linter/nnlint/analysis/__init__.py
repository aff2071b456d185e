"""Read-only analyses of libcst trees shared by the rules."""
