"""Pure DataFrame -> DataFrame rules of SPEC §4, one module per concern."""
