"""Pure DataFrame -> DataFrame rules of docs/rules.md §4, one module per concern."""
